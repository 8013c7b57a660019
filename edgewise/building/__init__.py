"""Building: what makes a study's artifacts, in the driver, in a lane or on a Ray worker alike."""

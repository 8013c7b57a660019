"""Public conformance checks: what every Operator, Subject and Testbed must do, callable from any test suite.

edgewise's own suite runs them over every registered operator, every built-in subject and every testbed kind
that can run on the machine; a third party's plug-in calls the same functions from its own tests:

    # tests/test_my_operator.py of a plug-in package
    from edgewise.subjects import SubjectContext, get_subject
    from edgewise.testing.operators import check_operator

    def test_my_operator_conforms(tmp_path):
        subject = get_subject("tiny-cnn", SubjectContext(cache_dir=tmp_path, log=lambda m: None))
        check_operator("my-op", subject, tmp_path / "artifacts")

Each `check_*` function raises AssertionError naming what does not hold, and returns nothing otherwise.
Modules: `operators` (builds real artifacts on a subject), `subjects` (data, preprocessing, model, metrics),
`testbeds` (the start / endpoint / verify / restart / stop contract against real tier servers); `neighbour`
starts the other work of a shared host, to check that a testbed holds its speed beside it.
"""

import pytest


def test_image_bomb_is_refused_before_decoding():
    import io

    from PIL import Image

    from edgewise.data.preprocess import build_preprocessor
    from edgewise.errors import DataError

    buf = io.BytesIO()
    Image.new("L", (8000, 6000)).save(buf, "PNG")  # 48 Mpx of zeros compress to a few KB
    pre = build_preprocessor({"kind": "image", "size": [16, 16], "channels": 1})
    with pytest.raises(DataError, match="larger than"):
        pre(buf.getvalue())

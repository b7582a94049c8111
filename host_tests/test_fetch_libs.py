# The stdlib-only fetcher refuses an archive whose digest differs from the
# pinned one and unpacks only the package's modules from a good one.
import hashlib
import io
import os
import tarfile

import pytest

import fetch_libs


def sdist(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


FILES = {"pkg-1.0/mylib/__init__.py": "", "pkg-1.0/mylib/core.py": "X = 1\n",
         "pkg-1.0/setup.cfg": "", "pkg-1.0/mylib/README.md": "docs"}


def test_good_archive_unpacks_package_modules_only(tmp_path):
    data = sdist(FILES)
    lib = ("pkg", "1.0", "p/pkg-1.0.tar.gz", hashlib.sha256(data).hexdigest(), "mylib")
    assert fetch_libs.fetch(lib, str(tmp_path), fetcher=lambda url: data)
    assert sorted(os.listdir(tmp_path / "mylib")) == ["__init__.py", "core.py"]
    assert (tmp_path / "mylib" / "core.py").read_text() == "X = 1\n"
    # A second run with the stamp in place fetches nothing.
    assert not fetch_libs.fetch(lib, str(tmp_path), fetcher=lambda url: pytest.fail("fetched"))


def test_tampered_archive_is_refused_and_nothing_written(tmp_path):
    data = sdist(FILES)
    lib = ("pkg", "1.0", "p/pkg-1.0.tar.gz", "0" * 64, "mylib")
    with pytest.raises(fetch_libs.DigestMismatch) as e:
        fetch_libs.fetch(lib, str(tmp_path), fetcher=lambda url: data)
    assert "refusing" in str(e.value)
    assert not os.path.exists(tmp_path / "mylib")


def test_pins_are_the_design_libraries():
    names = {l[0]: l[1] for l in fetch_libs.LIBRARIES}
    assert names == {"micropython-umqtt.simple": "1.3.4", "micropython-modbus": "2.3.7"}
    for l in fetch_libs.LIBRARIES:
        assert len(l[3]) == 64


def test_setup_filled_lib_with_the_pinned_modules():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    assert os.path.exists(os.path.join(root, "lib", "umqtt", "simple.py"))
    assert os.path.exists(os.path.join(root, "lib", "umodbus", "serial.py"))

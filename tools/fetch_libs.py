#!/usr/bin/env python3
"""Fill lib/ with the board's third-party MicroPython libraries.

pip cannot install them (PyPI serves them as sdists without a setup script),
so this stdlib-only fetcher downloads each pinned source archive, refuses it
when its sha256 differs from the pinned digest, and unpacks only the modules
the board needs. Re-running is cheap: a library whose files are present and
whose stamp matches is skipped.
"""
import hashlib
import io
import os
import sys
import tarfile
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(ROOT, "lib")
PYPI = "https://files.pythonhosted.org/packages/"

# (name, version, url path under PYPI, sha256, package dir inside the archive)
LIBRARIES = (
    ("micropython-umqtt.simple", "1.3.4",
     "bd/cf/697e3418b2f44222b3e848078b1e33ee76aedca9b6c2430ca1b1aec1ce1d/"
     "micropython-umqtt.simple-1.3.4.tar.gz",
     "b6a2520239e3992c63a7de9370ee9b3d9d27819a90359c521f1c0f7ccab8d12f",
     "umqtt"),
    ("micropython-modbus", "2.3.7",
     "a4/00/ac6cd7ec350915f14cb0caf8fe590f181b629dcd227adc8682678e5803a8/"
     "micropython-modbus-2.3.7.tar.gz",
     "b9351a66af0ff29dd585900e53827a989dedcb02ec63b1041358165089652271",
     "umodbus"),
)


class DigestMismatch(Exception):
    pass


def check_digest(data, expected, name):
    got = hashlib.sha256(data).hexdigest()
    if got != expected:
        raise DigestMismatch("%s: sha256 %s, pinned %s; refusing it" % (name, got, expected))


def download(url, retries=3):
    last = None
    for _ in range(retries):
        try:
            with urllib.request.urlopen(url, timeout=60) as r:
                return r.read()
        except OSError as e:  # network hiccup: try again
            last = e
    raise last


def unpack(data, package, dest):
    """Extract the .py files of `package` from the sdist into dest/package."""
    written = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for m in tar.getmembers():
            parts = m.name.split("/")
            if not m.isfile() or len(parts) < 3 or parts[1] != package:
                continue
            if not parts[-1].endswith(".py") or ".." in parts:
                continue
            rel = os.path.join(*parts[1:])
            out = os.path.join(dest, rel)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with open(out, "wb") as f:
                f.write(tar.extractfile(m).read())
            written.append(rel)
    if not written:
        raise ValueError("archive holds no %s/*.py" % package)
    return written


def fetch(lib, dest=LIB, fetcher=download):
    name, version, path, sha, package = lib
    stamp = os.path.join(dest, ".%s.sha256" % package)
    try:
        with open(stamp) as f:
            if f.read().strip() == sha:
                return False
    except OSError:
        pass
    data = fetcher(PYPI + path)
    check_digest(data, sha, "%s %s" % (name, version))
    os.makedirs(dest, exist_ok=True)
    unpack(data, package, dest)
    with open(stamp, "w") as f:
        f.write(sha + "\n")
    return True


def main():
    for lib in LIBRARIES:
        if fetch(lib):
            print("fetch_libs: %s %s -> lib/%s" % (lib[0], lib[1], lib[4]), file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except DigestMismatch as e:
        print("fetch_libs: " + str(e), file=sys.stderr)
        sys.exit(2)

#!/usr/bin/env python3
"""Checks a pekonode wheel built by `pip wheel ./bindings/python` (tests/python/test-wheel.sh):

- its tag is py3-none-<platform>: loaded with ctypes, the library serves every Python 3, but
  it is built for one platform, so a pure (none-any) wheel would be wrong;
- WHEEL says the same tag and Root-Is-Purelib: false;
- it holds the package and exactly one library, pekonode/libpekonode*.so, an ELF shared
  object without debug info (the wheel build strips it; the release profile has debug = 1).

    python3 tests/python/check_wheel.py DIST/pekonode-*.whl

Prints the wheel's name and sizes; exits 1 with the reasons when a check fails.
"""

import fnmatch
import os
import struct
import sys
import zipfile


def elf_section_names(data):
    """Section names of a 64-bit little-endian ELF file (the platforms we build wheels on)."""
    if data[:4] != b"\x7fELF":
        raise ValueError("not an ELF file")
    if data[4] != 2 or data[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def header(i):
        name, = struct.unpack_from("<I", data, shoff + i * shentsize)
        offset, size = struct.unpack_from("<QQ", data, shoff + i * shentsize + 0x18)
        return name, offset, size

    _, str_off, str_size = header(shstrndx)
    strtab = data[str_off:str_off + str_size]
    return [strtab[n:strtab.index(b"\0", n)].decode() for n, _, _ in map(header, range(shnum))]


def check(path):
    errors = []
    base = os.path.basename(path)
    parts = base[:-len(".whl")].split("-")
    if not base.endswith(".whl") or len(parts) != 5:
        return [f"{base}: not a wheel file name (name-version-python-abi-platform.whl)"]
    name, version, py, abi, plat = parts
    tag = f"{py}-{abi}-{plat}"
    if plat == "any":
        errors.append(f"{base}: platform tag 'any': a pure wheel, without the library")
    if (py, abi) != ("py3", "none"):
        errors.append(f"{base}: tagged {py}-{abi}, expected py3-none (ctypes, no CPython ABI)")

    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        wheel_meta = zf.read(f"{name}-{version}.dist-info/WHEEL").decode()
        if f"Tag: {tag}" not in wheel_meta.splitlines():
            errors.append(f"WHEEL does not say 'Tag: {tag}':\n{wheel_meta}")
        if "Root-Is-Purelib: false" not in wheel_meta.splitlines():
            errors.append(f"WHEEL does not say 'Root-Is-Purelib: false':\n{wheel_meta}")
        for needed in ("pekonode/__init__.py", "pekonode/_lib.py", "pekonode/py.typed"):
            if needed not in names:
                errors.append(f"{needed} is missing")
        libs = [n for n in names if fnmatch.fnmatch(n, "pekonode/libpekonode*.so")]
        if len(libs) != 1:
            errors.append(f"expected one pekonode/libpekonode*.so, found {libs}: {names}")
        else:
            data = zf.read(libs[0])
            try:
                debug = [s for s in elf_section_names(data) if s.startswith(".debug_")]
            except (ValueError, struct.error) as e:
                errors.append(f"{libs[0]}: {e}")
            else:
                if debug:
                    errors.append(f"{libs[0]} has debug info ({', '.join(debug)}): not stripped")
            print(f"check_wheel: {base}: {os.path.getsize(path) / 1024:.0f} KiB; "
                  f"{libs[0]} {len(data) / 1024:.0f} KiB unpacked")
    return errors


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check_wheel.py WHEEL")
    errors = check(sys.argv[1])
    for e in errors:
        print(f"check_wheel: FAILED: {e}", file=sys.stderr)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()

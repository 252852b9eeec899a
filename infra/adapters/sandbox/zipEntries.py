"""Reads a preview's .zip artifact for infra/adapters/sandbox/unpackArchive.ts with CPython's zipfile.

The archive comes on standard input; the bounds (entries, unpacked bytes) are the arguments. The
central directory's declared sizes are summed and checked before any entry is inflated, so a zip bomb
is refused without being inflated, and each entry is read with zipfile's own checks (it yields at
most the declared size and checks the CRC-32, so an entry that lies about its size is refused too).
Each entry is written to standard output as one JSON line (path, kind, executable, size) followed by
exactly `size` bytes of content (a symbolic link's content is its target). The names are checked by
the caller, with the same rules as a .tar.gz's. A refusal is one JSON line on standard error
({"reason": ...}) and exit code 3.
"""

import io
import json
import stat
import sys
import zipfile
import zlib

REFUSED = 3


def refuse(reason):
    sys.stderr.write(json.dumps({"reason": reason}) + "\n")
    sys.exit(REFUSED)


def kind_of(info):
    mode = info.external_attr >> 16
    if info.is_dir():
        return "folder"
    if stat.S_ISLNK(mode):
        return "symlink"
    # Archivers that record no Unix mode (0) make plain files.
    if mode == 0 or stat.S_ISREG(mode):
        return "file"
    return "other"


def main():
    max_entries, max_unpacked_bytes = int(sys.argv[1]), int(sys.argv[2])
    try:
        archive = zipfile.ZipFile(io.BytesIO(sys.stdin.buffer.read()))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError):
        refuse("not a valid zip archive")
    if len(infos) > max_entries:
        refuse("too many entries")
    if sum(info.file_size for info in infos) > max_unpacked_bytes:
        refuse("unpacked size over the bound")
    out = sys.stdout.buffer
    for info in infos:
        if info.flag_bits & 0x1:
            refuse("encrypted entry")
        kind = kind_of(info)
        if kind == "other":
            refuse("entry type not allowed")
        try:
            content = b"" if kind == "folder" else archive.read(info)
        except (zipfile.BadZipFile, zlib.error, NotImplementedError, ValueError, EOFError, OSError, RuntimeError):
            refuse("an entry does not inflate to its declared size and CRC")
        header = {
            "path": info.filename,
            "kind": kind,
            "executable": bool((info.external_attr >> 16) & 0o111),
            "size": len(content),
        }
        out.write(json.dumps(header).encode("utf-8") + b"\n")
        out.write(content)


main()

#!/usr/bin/env python3
"""Grow a CRIU image directory by one anonymous mapping of SIZE MiB, its
pages stored: a CRIU dump as large as wanted, for measuring readers of
CRIU's images (scripts/bench_criu.sh) without CRIU itself.

  criu_grow.py SRC_DIR DST_DIR SIZE_MIB

SRC_DIR is a one-process CRIU dump (the threads fixture). The new mapping
goes between the libraries and the stack, where CRIU would list it: before
the last two VMAs (stack, vsyscall page) and before the last pagemap run
(the stack's), its bytes before the stack's in the pages file. The bytes
are random: no reader can take them for zeros. Protobuf is written by hand
(tag, varint, length): the messages are copied field by field and the new
VMA and pagemap entry inserted.
"""
import os
import shutil
import struct
import sys

PAGE = 4096


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_varint(b, i):
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if not c & 0x80:
            return v, i


def fields(b):
    """(field number, wire type, raw bytes of the whole field) of a message."""
    i = 0
    while i < len(b):
        start = i
        key, i = read_varint(b, i)
        wt = key & 7
        if wt == 0:
            _, i = read_varint(b, i)
        elif wt == 1:
            i += 8
        elif wt == 5:
            i += 4
        elif wt == 2:
            n, i = read_varint(b, i)
            i += n
        else:
            raise ValueError("wire type %d" % wt)
        yield key >> 3, wt, b[start:i]


def vfield(num, v):
    return varint(num << 3) + varint(v)


def lfield(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def zigzag(v):
    return (v << 1) ^ (v >> 63)


def entries(path, skip):
    b = open(path, "rb").read()
    head, i, out = b[:skip], skip, []
    while i < len(b):
        n = struct.unpack_from("<I", b, i)[0]
        out.append(b[i + 4:i + 4 + n])
        i += 4 + n
    return head, out


def write(path, head, msgs):
    with open(path, "wb") as f:
        f.write(head)
        for m in msgs:
            f.write(struct.pack("<I", len(m)) + m)


def main():
    src, dst, mib = sys.argv[1], sys.argv[2], int(sys.argv[3])
    shutil.copytree(src, dst)
    pid = [n[3:-4] for n in os.listdir(dst) if n.startswith("mm-")][0]
    start, size = 0x7FF000000000, mib << 20

    # mm: the new vma_entry before the last two (stack, vsyscall page).
    head, (mm,) = entries("%s/mm-%s.img" % (dst, pid), 8)
    vmas = [f for f in fields(mm) if f[0] == 14]
    vma = (vfield(1, start) + vfield(2, start + size) + vfield(3, 0) + vfield(4, 0) +
           vfield(5, 3) + vfield(6, 0x22) + vfield(7, 0x201) + vfield(8, zigzag(-1)))
    out, seen = b"", 0
    for f in fields(mm):
        if f[0] == 14:
            seen += 1
            if seen == len(vmas) - 1:
                out += lfield(14, vma)
        out += f[2]
    write("%s/mm-%s.img" % (dst, pid), head, [out])

    # pagemap: the new run before the stack's (the last), present; in the
    # pages file its bytes come before the stack's.
    head, pm = entries("%s/pagemap-%s.img" % (dst, pid), 8)
    last = dict((f[0], read_varint(f[2], 1)[0]) for f in fields(pm[-1]) if f[1] == 0)
    tail_len = last.get(5, last.get(2, 0)) * PAGE
    pm.insert(len(pm) - 1, vfield(1, start) + vfield(2, 0) + vfield(4, 4) +
              vfield(5, size // PAGE))
    write("%s/pagemap-%s.img" % (dst, pid), head, pm)

    pages = "%s/pages-%d.img" % (dst, read_varint(pm[0], 1)[0])
    with open(pages, "r+b") as f:
        f.seek(-tail_len, os.SEEK_END)
        tail = f.read()
        f.seek(-tail_len, os.SEEK_END)
        f.truncate()
        for _ in range(size >> 20):
            f.write(os.urandom(1 << 20))
        f.write(tail)


if __name__ == "__main__":
    main()

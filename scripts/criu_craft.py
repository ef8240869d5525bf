#!/usr/bin/env python3
"""CRIU dumps made out of the fixtures, for the tests and the bench of
criu-lite's CRIU reader, without CRIU itself. Protobuf is written by hand
(tag, varint, length): messages are copied field by field, what is added
is inserted where CRIU would have it.

  criu_craft.py grow SRC_DIR DST_DIR SIZE_MIB
      SRC_DIR plus one anonymous mapping of SIZE_MIB MiB, its pages stored
      (random bytes: no reader can take them for zeros). It goes between
      the libraries and the stack, where CRIU would list it: before the
      last two VMAs (stack, vsyscall page) and the last pagemap run (the
      stack's), its bytes before the stack's in the pages file.
  criu_craft.py many-vmas SRC_DIR DST_DIR N
      SRC_DIR plus N one-page anonymous mappings, a page apart, between the
      heap and the libraries, the last with its page stored (its first 8
      bytes: N): a core of more than 65535 segments.
  criu_craft.py host-vdso SRC_DIR DST_DIR
      SRC_DIR with the dumped [vdso] pages replaced by the running kernel's
      vdso: the dump as this kernel build would have made it, for a restore
      (which refuses a vdso that is not this kernel's) of a program that
      calls nothing in it.
  criu_craft.py other-vdso SRC_DIR DST_DIR
      As host-vdso, with one byte in the middle of the vdso changed: the
      dump of another build of this kernel, which restore must refuse.
  criu_craft.py shift-archive SRC_TAR DST_TAR
      SRC_TAR with a 1-byte status.dump member first: every later member's
      data then starts off a page boundary (a tar aligns to 512 bytes);
      fails if checkpoint/pages-1.img is still page-aligned.
  criu_craft.py split-parent SRC_DIR DST
      A dump with a pre-dump parent, as `criu pre-dump` then `criu dump
      --prev-images-dir` leave it: DST/parent the pre-dump (every page
      stored), DST/dump the dump linked to it by its "parent" symlink, every
      other present run of its pagemap marked PE_PARENT and its bytes left
      out of its pages file. Reading DST/dump gives back what SRC holds.
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


def grow(src, dst, mib):
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


def payload(field):
    """The bytes of a length-delimited field, without its tag and length."""
    _, i = read_varint(field, 0)
    n, i = read_varint(field, i)
    return field[i:i + n]


def many_vmas(src, dst, n):
    shutil.copytree(src, dst)
    pid = [x[3:-4] for x in os.listdir(dst) if x.startswith("mm-")][0]
    base = 0x600000000000
    addrs = [base + 2 * PAGE * i for i in range(n)]

    head, (mm,) = entries("%s/mm-%s.img" % (dst, pid), 8)
    out, done = [], False
    for f in fields(mm):
        if f[0] == 14 and not done and scalars(payload(f[2]))[1] > base:
            out += [lfield(14, vfield(1, a) + vfield(2, a + PAGE) + vfield(3, 0) +
                           vfield(4, 0) + vfield(5, 3) + vfield(6, 0x22) +
                           vfield(7, 0x201) + vfield(8, zigzag(-1))) for a in addrs]
            done = True
        out.append(f[2])
    write("%s/mm-%s.img" % (dst, pid), head, [b"".join(out)])

    head, pm = entries("%s/pagemap-%s.img" % (dst, pid), 8)
    pages = "%s/pages-%d.img" % (dst, read_varint(pm[0], 1)[0])
    data = open(pages, "rb").read()
    at, off = 1, 0
    while at < len(pm) and scalars(pm[at])[1] < base:
        f = scalars(pm[at])
        off += f.get(5, f.get(2, 0)) * PAGE
        at += 1
    new = vfield(1, addrs[-1]) + vfield(2, 0) + vfield(4, 4) + vfield(5, 1)
    write("%s/pagemap-%s.img" % (dst, pid), head, pm[:at] + [new] + pm[at:])
    with open(pages, "wb") as f:
        f.write(data[:off] + struct.pack("<Q", n) + bytes(PAGE - 8) + data[off:])


def host_vdso(src, dst, flip=False):
    shutil.copytree(src, dst)
    pid = [x[3:-4] for x in os.listdir(dst) if x.startswith("mm-")][0]
    _, (mm,) = entries("%s/mm-%s.img" % (dst, pid), 8)
    vdso = [v for v in (scalars(payload(f[2])) for f in fields(mm) if f[0] == 14)
            if v[7] & 0x8][0]
    for line in open("/proc/self/maps"):
        if line.rstrip().endswith("[vdso]"):
            a, b = (int(x, 16) for x in line.split()[0].split("-"))
    with open("/proc/self/mem", "rb") as m:
        m.seek(a)
        ours = m.read(b - a)
    if len(ours) != vdso[2] - vdso[1]:
        sys.exit("this kernel's vdso is %d bytes, the dumped one %d" %
                 (len(ours), vdso[2] - vdso[1]))
    if flip:
        ours = ours[:len(ours) // 2] + bytes([ours[len(ours) // 2] ^ 0xff]) + \
            ours[len(ours) // 2 + 1:]
    _, pm = entries("%s/pagemap-%s.img" % (dst, pid), 8)
    off = 0
    for e in pm[1:]:
        f = scalars(e)
        n = f.get(5, f.get(2, 0)) * PAGE
        if f[1] <= vdso[1] < f[1] + n:
            break
        off += n if f.get(4, 4) & 4 else 0
    else:
        sys.exit("the dump holds no pages of its vdso")
    if not f.get(4, 4) & 4 or f[1] + n < vdso[2]:
        sys.exit("the dump's vdso pages are not all stored in one run")
    with open("%s/pages-%d.img" % (dst, scalars(pm[0])[1]), "r+b") as fh:
        fh.seek(off + vdso[1] - f[1])
        fh.write(ours)


def shift_archive(src, dst):
    import io
    import tarfile
    with tarfile.open(src) as i, tarfile.open(dst, "w", format=tarfile.GNU_FORMAT) as o:
        e = tarfile.TarInfo("status.dump")
        e.size = 1
        o.addfile(e, io.BytesIO(b"x"))
        for m in i.getmembers():
            o.addfile(m, i.extractfile(m) if m.isfile() else None)
    with tarfile.open(dst) as t:
        if t.getmember("checkpoint/pages-1.img").offset_data % PAGE == 0:
            sys.exit("checkpoint/pages-1.img is still page-aligned in " + dst)


def scalars(msg):
    """field -> varint value, for a message of varint fields only."""
    out, i = {}, 0
    while i < len(msg):
        key, i = read_varint(msg, i)
        out[key >> 3], i = read_varint(msg, i)
    return out


def encode(fields):
    return b"".join(varint(k << 3) + varint(v) for k, v in sorted(fields.items()))


def split_parent(src, dst):
    os.makedirs(dst)
    shutil.copytree(src, os.path.join(dst, "parent"))
    shutil.copytree(src, os.path.join(dst, "dump"))
    d = os.path.join(dst, "dump")
    os.symlink("../parent", os.path.join(d, "parent"))
    for name in os.listdir(d):
        if not name.startswith("pagemap-"):
            continue
        head, pm = entries(os.path.join(d, name), 8)
        pages_name = "pages-%d.img" % scalars(pm[0])[1]
        pages = open(os.path.join(d, pages_name), "rb").read()
        kept, off, out = bytearray(), 0, [pm[0]]
        for k, e in enumerate(pm[1:]):
            f = scalars(e)
            length = f.get(5, f.get(2, 0)) * PAGE
            if k % 2:
                f[4] = 1  # PE_PARENT
            else:
                kept += pages[off:off + length]
            off += length
            out.append(encode(f))
        write(os.path.join(d, name), head, out)
        with open(os.path.join(d, pages_name), "wb") as fh:
            fh.write(kept)


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "grow":
        grow(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) == 5 and sys.argv[1] == "many-vmas":
        many_vmas(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) == 4 and sys.argv[1] == "host-vdso":
        host_vdso(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "other-vdso":
        host_vdso(sys.argv[2], sys.argv[3], flip=True)
    elif len(sys.argv) == 4 and sys.argv[1] == "shift-archive":
        shift_archive(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "split-parent":
        split_parent(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

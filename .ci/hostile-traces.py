#!/usr/bin/env python3
"""Hostile replay traces (issue 15 item 3). Usage: gen_hostile.py SHAPE N OUT
SHAPE: cluster (N maps whose PFNs collide under the old PFN hash), faults (65,536 released ranges then N
faults), order20 (one live map then N order-20 frees), devices (N devices that map and unmap),
largefree (N maps of one 2 MiB range then 200 order-9 frees), alternate (N/4 maps of each of two ranges, then
N/2 unmaps alternating between them on distinct CPUs, each held), cpus (N lines over 4,096 CPUs: half hold recent
maps, half a held unmap, visited in alternating order; a fault and a free of a mapped page between)."""
import sys

shape, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
out = open(path, "w")
t = 0
def ts():
    global t
    t += 1
    return "%d.%06d" % (1 + t // 1_000_000, t % 1_000_000)
def line(cpu, text):
    return "      kworker/0:1-10    [%03d] .....  %s: %s\n" % (cpu, ts(), text)
def mapl(iova, paddr, size, cpu=0):
    return line(cpu, "map: IOMMU: iova=0x%016x - 0x%016x paddr=0x%016x size=%d" % (iova, iova + size, paddr, size))
def unmapl(iova, size, cpu=0):
    return line(cpu, "unmap: IOMMU: iova=0x%016x - 0x%016x size=%d unmapped_size=%d" % (iova, iova + size, size, size))
def free(pfn, order, cpu=0):
    return line(cpu, "mm_page_free: page=00000000deadbeef pfn=0x%x order=%d" % (pfn, order))
def fault(iova, cpu=6):
    return line(cpu, "io_page_fault: IOMMU:ath12k_pci 0000:c2:00.0 iova=0x%016x flags=0x0001" % iova)
buf = []
def emit(s):
    buf.append(s)
    if len(buf) >= 100000:
        out.write("".join(buf)); buf.clear()

if shape == "cluster":
    # The old table hashed k * C >> (64 - log2 capacity). Multiples m*q of a q whose q*C mod 2^64 is tiny all
    # land in the first few buckets: take q from the continued fraction of C / 2^64, the best below 2^52 / n.
    C, M = 0x9E3779B97F4A7C15, 1 << 64
    a, b = C, M
    p0, q0, p1, q1 = 0, 1, 1, 0
    best = 1
    while b:
        k = a // b
        a, b = b, a - k * b
        p0, q0, p1, q1 = p1, q1, k * p1 + p0, k * q1 + q0
        if q1 * n < (1 << 52): best = q1
    for m in range(1, n + 1):
        emit(mapl(m * 4096, m * best * 4096, 4096))
elif shape == "faults":
    for i in range(65536):
        emit(mapl(i * 4096, 0x100000000 + i * 4096, 4096))
        emit(unmapl(i * 4096, 4096))
    for i in range(n):
        emit(fault(0x100000000 + (i % 65536) * 4096))  # never released: every fault is unknown
elif shape == "order20":
    emit(mapl(0x1000, 0x1000, 4096))
    for i in range(n):
        emit(free(((i % 1000) + 1) << 20, 20))
elif shape == "devices":
    for d in range(n):
        dev = "0000:%02x:%02x.%d" % (d >> 11 & 0xff, d >> 3 & 0xff, d & 7)
        dev = "%04x:%s" % (d >> 19, dev[5:])
        emit(mapl(0xfffff000, 0x80000000 + (d % 4096) * 4096, 4096))
        emit(line(0, "dma_map_page: %s dir=TO_DEVICE dma_addr=fffff000 size=4096 phys_addr=%x attrs=" % (dev, 0x80000000 + (d % 4096) * 4096)))
        emit(unmapl(0xfffff000, 4096))
        emit(line(0, "dma_unmap_page: %s dir=TO_DEVICE dma_addr=fffff000 size=4096 attrs=" % dev))
elif shape == "largefree":
    for i in range(n):
        emit(mapl(i * 0x200000, 0x40000000, 0x200000))
    for i in range(200):
        emit(free(0x40000, 9))
elif shape == "alternate":
    # Each unmap is held (16 spaces map its range) on a CPU of its own; its candidates alternate.
    a, b = 0xffff0000, 0xfffe0000
    for i in range(n // 4):
        emit(mapl(a, 0xc2000000, 0x4000))
        emit(mapl(b, 0xc3000000, 0x4000))
    for i in range(n // 2):
        emit(unmapl(a if i % 2 == 0 else b, 0x4000, cpu=i % 65536))
elif shape == "cpus":
    # CPUs 0-2047 each make a map (held as recent until their next event), CPUs 2048-4095 each
    # hold an unmap of a range several spaces map; each round visits them in the other order.
    r, other = 0xffff0000, 0x10000000
    emit(mapl(other, 0x90000000, 4096))
    emit(mapl(r, 0xc2000000, 4096))
    k = 2
    step = 0
    while k < n:
        j = step % 2048
        rnd = step // 2048
        c = j if rnd % 2 == 0 else 2047 - j
        emit(line(c, "dma_map_page: 0000:01:00.0 dir=TO_DEVICE dma_addr=%x size=4096 phys_addr=%x attrs=" % (0x20000000, 0x91000000)))
        emit(mapl(r, 0xc2000000, 4096, cpu=c))
        emit(unmapl(r, 4096, cpu=2048 + c))
        emit(fault(0x30000000 + (step % 4096) * 4096, cpu=4095))
        k += 4
        if step % 16 == 0:
            emit(free(0x90000, 0, cpu=4095))
            k += 1
        step += 1
else:
    sys.exit("unknown shape " + shape)
out.write("".join(buf))

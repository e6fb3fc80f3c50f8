#!/usr/bin/env python3
"""Hostile replay traces (issue 15 item 3). Usage: gen_hostile.py SHAPE N OUT
SHAPE: cluster (N maps whose PFNs collide under the old PFN hash), faults (65,536 released ranges then N
faults), order20 (one live map then N order-20 frees), devices (N devices that map and unmap),
largefree (N maps of one 2 MiB range then 200 order-9 frees)."""
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
def mapl(iova, paddr, size):
    return line(0, "map: IOMMU: iova=0x%016x - 0x%016x paddr=0x%016x size=%d" % (iova, iova + size, paddr, size))
def unmapl(iova, size, cpu=0):
    return line(cpu, "unmap: IOMMU: iova=0x%016x - 0x%016x size=%d unmapped_size=%d" % (iova, iova + size, size, size))
def free(pfn, order):
    return line(0, "mm_page_free: page=00000000deadbeef pfn=0x%x order=%d" % (pfn, order))
def fault(iova):
    return line(6, "io_page_fault: IOMMU:ath12k_pci 0000:c2:00.0 iova=0x%016x flags=0x0001" % iova)
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
else:
    sys.exit("unknown shape " + shape)
out.write("".join(buf))

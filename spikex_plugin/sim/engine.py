"""Cycle engine: the SpikeX array, its feeder and the buffer ports, advanced tile by tile.

Each SRAM has the ports its spec gives (read, write and shared read/write ports, one access
of the level's width each per cycle), kept as a cycle calendar of reads and writes: a
request takes the earliest cycles at or after the time it is issued where a port of its
kind is free, so transfers issued later can use gaps left by earlier ones (first-free
arbitration; array operand reads are placed before the fill of the next tile, so they win). DRAM is a bandwidth-limited
channel. Inside the array a weight enters column 0 after the feeder has read it (with the
step's spike bits) from L1 and hops one column per cycle; a PE holds it while it
accumulates its spikes and until the next column has taken it (one weight register per
PE, so a busy column stalls the ones before it). After the last channel chunk of an output
tile each column runs its membrane steps; a column that does not start a chain waits for
the column before it (temporal mode: window after window; spatial mode: every column
starts its own chain). Rows carry the same spikes with one
cycle of skew each, so they add `rows - 1` cycles before outputs leave the array. Buffers
are double-buffered: the fill of tile k waits until tile k - 2 has been read out.
"""

from __future__ import annotations

import numba
import numpy as np

OVERFLOW = -1.0


@numba.njit(cache=True)
def _take(calendar, ports, kind, t, n):
    """Reserve n accesses of `kind` (0 read, 1 write) at or after cycle t, one per cycle.
    `calendar[t]` holds the reads and writes served in cycle t; `ports` the read, write and
    shared ports. Returns the cycle after the last access, or -1 if the calendar is too short."""
    end = t
    while n > 0:
        if t >= calendar.shape[0]:
            return -1
        r = calendar[t, 0] + (1 - kind)
        w = calendar[t, 1] + kind
        if r <= ports[0] + ports[2] and w <= ports[1] + ports[2] and r + w <= ports[0] + ports[1] + ports[2]:
            calendar[t, kind] += 1
            n -= 1
            end = t + 1
        t += 1
    return end


@numba.njit(cache=True)
def _stream(src, src_ports, dst, dst_ports, t, n_src, n_dst):
    """Words read from one SRAM and written to another one cycle later; returns the time
    the last write is done (t if nothing moves), or -1 on calendar overflow."""
    done = t
    for i in range(max(n_src, n_dst)):
        ts = t
        if i < n_src:
            ts = _take(src, src_ports, 0, t, 1)
            if ts < 0:
                return -1
        if i < n_dst:
            td = _take(dst, dst_ports, 1, ts, 1)
            if td < 0:
                return -1
            done = max(done, td)
        else:
            done = max(done, ts)
        t = ts
    return done


@numba.njit(cache=True)
def feeder_reads(issued, w_first, w_last, s_first, s_last):
    """L1 reads per issued weight step of each tile: the feeder keeps the last word it read
    from the weight region and from the spike region, and reads a word only when a step
    needs bits outside it (words counted from each step's first and last word index)."""
    n, steps = issued.shape
    reads = np.zeros((n, steps), dtype=np.int64)
    for i in range(n):
        held_w = -1
        held_s = -1
        for st in range(steps):
            if not issued[i, st]:
                continue
            r = w_last[i, st] - w_first[i, st] + 1 - (1 if w_first[i, st] == held_w else 0)
            r += s_last[i, st] - s_first[i, st] + 1 - (1 if s_first[i, st] == held_s else 0)
            held_w = w_last[i, st]
            held_s = s_last[i, st]
            reads[i, st] = r
    return reads


@numba.njit(cache=True)
def run_tiles(spk, out_id, last_c, chain, glb_of, l1_wr, glb_rd, out_words, work, issued, feed, mem,
              dram_rd, glb_wr, wb_glb, wb_dram, dram_cycles_per_access, rows, chain_start,
              glb_ports, l1_ports, horizon):
    """Simulate the L1 tiles in nest order; `glb_of[k]` is the GLB tile of L1 tile k
    (non-decreasing). Returns (cycles, accumulate-busy cycles, membrane cycles, cycles the
    array waited for a tile fill), or cycles = -1 when the calendar horizon was too short."""
    n_tiles = spk.shape[0]
    steps, cols = work.shape[1], work.shape[2]
    n_glb = dram_rd.shape[0]
    in_glb = np.zeros(n_glb, dtype=np.int64)       # L1 tiles per GLB tile
    pos = np.zeros(n_tiles, dtype=np.int64)        # index of an L1 tile inside its GLB tile
    for k in range(n_tiles):
        pos[k] = in_glb[glb_of[k]]
        in_glb[glb_of[k]] += 1
    glb = np.zeros((horizon, 2), dtype=np.uint8)
    l1 = np.zeros((horizon, 2), dtype=np.uint8)
    col_free = np.zeros(cols, dtype=np.int64)
    acc_done = np.zeros(cols, dtype=np.int64)
    takes = np.zeros(cols, dtype=np.int64)
    glb_ready = np.zeros(n_glb, dtype=np.int64)
    glb_bank_free = np.zeros(2, dtype=np.int64)
    l1_bank_free = np.zeros(2, dtype=np.int64)
    fill_done = np.zeros(n_tiles, dtype=np.int64)
    out_end = np.zeros(n_glb, dtype=np.int64)
    feeder = 0
    take0 = 0
    last_mem = 0
    busy_acc = 0
    busy_mem = 0
    wait_fill = 0
    # First GLB tile: DRAM -> GLB before anything else.
    dram_free = dram_rd[0] * dram_cycles_per_access
    end = _take(glb, glb_ports, 1, 0, glb_wr[0])
    if end < 0:
        return OVERFLOW, 0.0, 0.0, 0.0
    glb_ready[0] = max(end, int(np.ceil(dram_free)))
    for k in range(-1, n_tiles):
        if k >= 0:
            # ---- compute tile k ----
            s = spk[k]
            ready = fill_done[k]
            if ready > max(feeder, take0):
                wait_fill += ready - max(feeder, take0)
            for st in range(steps):
                if not issued[s, st]:
                    continue
                t = _take(l1, l1_ports, 0, max(feeder, take0, ready), feed[s, st])
                if t < 0:
                    return OVERFLOW, 0.0, 0.0, 0.0
                feeder = t
                arrive = t
                widest = 0
                for j in range(cols):
                    takes[j] = max(arrive, col_free[j])
                    arrive = takes[j] + 1
                for j in range(cols):
                    w = work[s, st, j]
                    widest = max(widest, w)
                    hold = takes[j] + max(w, 1)
                    if j + 1 < cols:
                        hold = max(hold, takes[j + 1])
                    col_free[j] = hold
                    if w > 0:
                        acc_done[j] = max(acc_done[j], takes[j] + w)
                take0 = takes[0]
                busy_acc += widest
            l1_bank_free[k % 2] = max(feeder, ready)
            g = glb_of[k]
            if last_c[k]:
                o = out_id[k]
                prev = last_mem if chain[k] else 0
                finish = 0
                for j in range(cols):
                    start = acc_done[j]
                    if j == 0 or not chain_start[j]:
                        start = max(start, prev)
                    me = start + mem[o, j]
                    busy_mem += mem[o, j]
                    prev = me
                    acc_done[j] = me
                    col_free[j] = max(col_free[j], me)
                    finish = max(finish, me)
                last_mem = prev
                t = _take(glb, glb_ports, 1, finish + rows - 1, out_words[k])
                if t < 0:
                    return OVERFLOW, 0.0, 0.0, 0.0
                out_end[g] = max(out_end[g], t, finish + rows - 1)
            if k == n_tiles - 1 or glb_of[k + 1] != g:
                # GLB tile done: outputs go back to DRAM, then its bank is free.
                start = max(out_end[g], int(np.ceil(dram_free)))
                end = _take(glb, glb_ports, 0, start, wb_glb[g])
                if end < 0:
                    return OVERFLOW, 0.0, 0.0, 0.0
                dram_free = max(dram_free, start) + wb_dram[g] * dram_cycles_per_access
                glb_bank_free[g % 2] = max(end, int(np.ceil(dram_free)))
        nxt = k + 1
        if nxt >= n_tiles:
            break
        # ---- fill tile k + 1 into the free L1 half, and a slice of the next GLB tile ----
        g = glb_of[nxt]
        issue = max(l1_bank_free[nxt % 2], glb_ready[g])
        done = _stream(glb, glb_ports, l1, l1_ports, issue, glb_rd[nxt], l1_wr[nxt])
        if done < 0:
            return OVERFLOW, 0.0, 0.0, 0.0
        fill_done[nxt] = done
        if g + 1 < n_glb:
            i, n = pos[nxt], in_glb[g]
            words = (glb_wr[g + 1] * (i + 1)) // n - (glb_wr[g + 1] * i) // n
            start = max(issue, glb_bank_free[(g + 1) % 2])
            dram_start = max(float(start), dram_free)
            dram_free = dram_start + dram_rd[g + 1] / n * dram_cycles_per_access
            end = _take(glb, glb_ports, 1, int(np.ceil(dram_start)), words)
            if end < 0:
                return OVERFLOW, 0.0, 0.0, 0.0
            glb_ready[g + 1] = max(glb_ready[g + 1], end, int(np.ceil(dram_free)))
    total = max(np.max(col_free) + rows - 1, int(np.ceil(dram_free)))
    for t in range(horizon - 1, -1, -1):
        if glb[t, 0] or glb[t, 1] or l1[t, 0] or l1[t, 1]:
            total = max(total, t + 1)
            break
    return float(total), float(busy_acc), float(busy_mem), float(wait_fill)

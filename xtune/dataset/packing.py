"""Packing: put whole samples into rows of ``capacity`` tokens with as little padding as possible.

Samples are never split (a split sample would train on a reply without its prompt). Two planners:

* best-fit decreasing: samples, longest first, go into the open row with the least room that still fits
  them, else into a new row. O(n log n); on real SFT length distributions (many short samples, a long
  tail) rows come out > 99.9% full.
* row-by-row subset sum: each row takes the longest sample left, then the combination of remaining
  samples that fills the rest best (a bitset knapsack over distinct lengths). It wins where lengths
  take few values (templated or synthetic data) and best-fit leaves a gap smaller than any sample in
  every row; its cost grows with the number of distinct lengths, so it only runs where that is small.

:func:`pack` runs best-fit and switches to the subset-sum plan when that one needs fewer rows.
Inside a row every sample restarts its ``position_ids`` at 0; the model's attention mask is derived
from them so no token attends across a sample boundary (see :func:`xtune.dataset.collate.sft_collate`).
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Sequence

SUBSET_SUM_BUDGET = 2_000_000  # big-int shift operations the subset-sum planner may spend


def pack(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Rows of sample indices, each summing to at most ``capacity``, using as few rows as we can find."""
    rows = best_fit_decreasing(lengths, capacity)
    fewest = math.ceil(sum(int(n) for n in lengths) / capacity)
    if len(rows) > fewest and _subset_sum_cost(lengths, capacity, len(rows)) <= SUBSET_SUM_BUDGET:
        exact = subset_sum_rows(lengths, capacity)
        if len(exact) < len(rows):
            rows = exact
    return rows


def _subset_sum_cost(lengths: Sequence[int], capacity: int, num_rows: int) -> float:
    counts = Counter(int(n) for n in lengths)
    per_row = sum(1 + math.log2(min(c, capacity // n) + 1) for n, c in counts.items())
    return per_row * num_rows


def subset_sum_rows(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Fill rows one at a time: the longest sample left, then the best-filling subset of the rest."""
    groups: dict[int, list[int]] = {}
    for index in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        length = int(lengths[index])
        if length > capacity:
            raise ValueError(f"sample {index} has {length} tokens, more than the row capacity {capacity}")
        groups.setdefault(length, []).append(index)
    rows = []
    while groups:
        largest = max(groups)
        row = [_take(groups, largest)]
        room = capacity - largest
        for length, count in _best_subset(groups, room):
            row += [_take(groups, length) for _ in range(count)]
        rows.append(row)
    return rows


def _take(groups: dict[int, list[int]], length: int) -> int:
    index = groups[length].pop()
    if not groups[length]:
        del groups[length]
    return index


def _best_subset(groups: dict[int, list[int]], room: int) -> list[tuple[int, int]]:
    """``[(length, count), ...]`` from ``groups`` whose total is as close to ``room`` as possible.

    Bounded subset sum as a bitset (bit t of ``reach`` = total t is reachable), counts split in powers
    of two; longer samples are tried first, and the search stops at a perfect fill.
    """
    if room <= 0:
        return []
    mask = (1 << (room + 1)) - 1
    reach, steps = 1, []
    for length in sorted((n for n in groups if n <= room), reverse=True):
        left, chunk = min(len(groups[length]), room // length), 1
        while left:
            take = min(chunk, left)
            steps.append((length, take, reach))
            reach |= (reach << (take * length)) & mask
            left, chunk = left - take, chunk * 2
        if reach >> room & 1:
            break
    total, used = reach.bit_length() - 1, Counter()
    for length, take, before in reversed(steps):
        if not before >> total & 1:
            total -= take * length
            used[length] += take
    return sorted(used.items(), reverse=True)


def best_fit_decreasing(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Group sample indices into rows whose total length is at most ``capacity``.

    O(n log n): open rows are bucketed by their free room, and the distinct free-room values (at most
    ``capacity`` of them) are kept sorted, so "the tightest row that fits" is one bisect.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    rows: list[list[int]] = []
    by_room: dict[int, list[int]] = {}
    rooms: list[int] = []  # sorted free-room values that have at least one open row
    for index in order:
        length = int(lengths[index])
        if length > capacity:
            raise ValueError(f"sample {index} has {length} tokens, more than the row capacity {capacity}")
        slot = bisect_left(rooms, length)
        if slot < len(rooms):
            room = rooms[slot]
            row = by_room[room].pop()
            if not by_room[room]:
                del by_room[room]
                rooms.pop(slot)
        else:
            row, room = len(rows), capacity
            rows.append([])
        rows[row].append(index)
        left = room - length
        if left > 0:
            if left not in by_room:
                by_room[left] = []
                insort(rooms, left)
            by_room[left].append(row)
    return rows


def packing_efficiency(lengths: Sequence[int], rows: list[list[int]], capacity: int) -> float:
    """Real tokens / (rows × capacity): 1.0 means no padding at all."""
    if not rows:
        return 1.0
    return float(sum(int(lengths[i]) for row in rows for i in row)) / (len(rows) * capacity)


def padded_efficiency(lengths: Sequence[int], batch_size: int) -> float:
    """Real tokens / padded tokens when consecutive batches of ``batch_size`` pad to their longest sample."""
    total = padded = 0
    for start in range(0, len(lengths), batch_size):
        batch = [int(n) for n in lengths[start : start + batch_size]]
        total += sum(batch)
        padded += max(batch) * len(batch)
    return total / padded if padded else 1.0

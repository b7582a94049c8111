# The poll plan: a device's points coalesced into as few read requests as the
# device allows. Pure logic, runs on the board, the unix port and CPython.
from firmware.decode import P_FC, P_ADDR, P_TYPE, width

# Request tuple fields.
R_FC = 0
R_START = 1
R_COUNT = 2
R_FIRST = 3     # index of its first point in the sorted point tuple
R_N = 4         # how many points it carries


def bridge_limit(profile, baud):
    """Most unused registers worth reading through rather than paying for
    another request: a request costs 8 + 5 bytes of framing, two 3.5-char
    gaps and the device's answer delay, and each bridged register 2 bytes."""
    if not baud:
        baud = 9600
    overhead_chars = 8 + 5 + 7 + (profile.ANSWER_MS * baud) // 10000
    limit = overhead_chars // 2
    return limit if limit < profile.MAX_GAP else profile.MAX_GAP


def build(points, max_regs, max_gap, align=1, page=0):
    """Sort points by (fc, addr) and coalesce them into requests.

    Returns (sorted_points, requests). A request never exceeds max_regs,
    never bridges more than max_gap unused registers, starts on a multiple
    of align, and never crosses a multiple of page (when page > 0).
    """
    pts = sorted(points, key=lambda p: (p[P_FC], p[P_ADDR]))
    reqs = []
    cur = None      # [fc, start, end (exclusive), first, n]
    for i, p in enumerate(pts):
        fc, addr, w = p[P_FC], p[P_ADDR], width(p[P_TYPE])
        end = addr + w
        if align > 1 and end % align:
            end += align - end % align
        if cur is not None and fc == cur[0] and addr - cur[2] <= max_gap \
                and end - cur[1] <= max_regs \
                and (not page or cur[1] // page == (end - 1) // page):
            if end > cur[2]:
                cur[2] = end
            cur[4] += 1
            continue
        if cur is not None:
            reqs.append((cur[0], cur[1], cur[2] - cur[1], cur[3], cur[4]))
        start = addr - addr % align if align > 1 else addr
        cur = [fc, start, end, i, 1]
    if cur is not None:
        reqs.append((cur[0], cur[1], cur[2] - cur[1], cur[3], cur[4]))
    return tuple(pts), tuple(reqs)

# The coalescing planner: fewest requests within each device's limits.
from firmware import plan, profiles
from firmware.decode import U16, U32, F32


def P(addr, vt=U16, fc=3):
    return ('p%d' % addr, fc, addr, vt, 1, None, None)


def spans(reqs):
    return [(r[plan.R_FC], r[plan.R_START], r[plan.R_COUNT]) for r in reqs]


def test_contiguous_points_make_one_request():
    pts, reqs = plan.build([P(2), P(0), P(1, U32)], 40, 0)
    assert spans(reqs) == [(3, 0, 3)]
    assert [p[2] for p in pts] == [0, 1, 2]


def test_gap_bridged_only_up_to_max_gap():
    assert spans(plan.build([P(0), P(5)], 40, 4)[1]) == [(3, 0, 6)]
    assert spans(plan.build([P(0), P(6)], 40, 4)[1]) == [(3, 0, 1), (3, 6, 1)]


def test_max_regs_splits():
    pts = [P(a) for a in range(0, 100)]
    assert spans(plan.build(pts, 40, 0)[1]) == [(3, 0, 40), (3, 40, 40), (3, 80, 20)]


def test_function_codes_never_mix():
    assert spans(plan.build([P(0, fc=3), P(1, fc=4)], 40, 10)[1]) == [(3, 0, 1), (4, 1, 1)]


def test_even_alignment_for_eastron():
    pts = [P(4, F32, 4), P(70, F32, 4)]
    assert spans(plan.build(pts, 80, 80, 2)[1]) == [(4, 4, 68)]
    pts = [P(5, U16, 4)]
    assert spans(plan.build(pts, 80, 80, 2)[1]) == [(4, 4, 2)]


def test_pages_never_crossed():
    pts = [P(255), P(256)]
    assert spans(plan.build(pts, 64, 16, 1, 256)[1]) == [(3, 255, 1), (3, 256, 1)]


def test_points_indexed_by_request():
    pts, reqs = plan.build([P(0), P(1), P(50)], 40, 2)
    assert [(r[plan.R_FIRST], r[plan.R_N]) for r in reqs] == [(0, 2), (2, 1)]


def test_bridge_limit_weighs_answer_delay_against_gap():
    p = profiles.load('eastron_sdm630')
    # 30 ms answer at 9600 baud ~ 28 chars + 20 chars framing -> 24 registers
    assert plan.bridge_limit(p, 9600) == 24
    assert plan.bridge_limit(p, 115200) == p.MAX_GAP


def test_real_profiles_plan_within_limits():
    for name in profiles.NAMES:
        p = profiles.load(name)
        pts, reqs = plan.build(p.POINTS, p.MAX_REGS, plan.bridge_limit(p, 9600),
                               p.ALIGN, p.PAGE)
        covered = 0
        for r in reqs:
            # FC01 counts coils (Modbus: up to 2000 a read), the others registers.
            assert r[plan.R_COUNT] <= (2000 if r[plan.R_FC] == 1 else p.MAX_REGS), name
            assert r[plan.R_START] % p.ALIGN == 0, name
            if p.PAGE:
                assert r[plan.R_START] // p.PAGE == (r[plan.R_START] + r[plan.R_COUNT] - 1) // p.PAGE
            covered += r[plan.R_N]
        assert covered == len(p.POINTS), name


def test_example_cabinet_request_counts():
    # The site picture's registers in as few reads as each device allows.
    want = {'epever_tracer': 3, 'eastron_sdm630': 2, 'eastron_sdm120': 2,
            'pace_bms': 1, 'seplos_v3': 2, 'dse_gencomm': 6}
    for name in want:
        p = profiles.load(name)
        reqs = plan.build(p.POINTS, p.MAX_REGS, plan.bridge_limit(p, 9600),
                          p.ALIGN, p.PAGE)[1]
        assert len(reqs) == want[name], (name, len(reqs))

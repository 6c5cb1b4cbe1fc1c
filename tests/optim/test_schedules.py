import json

import pytest

from volnet.optim import Cosine, OneCycle, Step, make_schedule

torch = pytest.importorskip("torch")


def torch_rates(make_scheduler, steps, lr):
    # the rate each optimizer step uses: read before step k, then scheduler.step()
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    scheduler = make_scheduler(optimizer)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_step_matches_steplr():
    # StepLR(step_size=7, gamma=0.5), lr 0.1, 30 steps
    ours = Step(0.1, total_steps=30, step_size=7, gamma=0.5)
    expected = torch_rates(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5), 30, 0.1)
    assert [ours(step) for step in range(30)] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("min_lr", [0.0, 0.001])
def test_cosine_matches_cosine_annealing(min_lr):
    # CosineAnnealingLR(T_max=50, eta_min=min_lr), lr 0.1, 50 steps
    ours = Cosine(0.1, total_steps=50, min_lr=min_lr)
    expected = torch_rates(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=50, eta_min=min_lr), 50, 0.1)
    assert [ours(step) for step in range(50)] == pytest.approx(expected, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("total, pct_start", [(100, 0.3), (37, 0.25)])
def test_onecycle_matches_onecyclelr(total, pct_start):
    # OneCycleLR(max_lr=0.5, total_steps, pct_start, div_factor=25, final_div_factor=1e4,
    # anneal_strategy="cos", three_phase=False, cycle_momentum=False)
    ours = OneCycle(0.5, total_steps=total, pct_start=pct_start)
    expected = torch_rates(lambda o: torch.optim.lr_scheduler.OneCycleLR(
        o, max_lr=0.5, total_steps=total, pct_start=pct_start, cycle_momentum=False), total, 0.5)
    assert [ours(step) for step in range(total)] == pytest.approx(expected, rel=1e-12)


def test_warmup_matches_linearlr_then_cosine():
    # SequentialLR of LinearLR(start_factor=1/W, total_iters=W − 1) and CosineAnnealingLR(T_max=T − W)
    total, warmup, lr = 60, 10, 0.2
    ours = make_schedule("cosine", lr=lr, total_steps=total, warmup_steps=warmup)
    expected = torch_rates(lambda o: torch.optim.lr_scheduler.SequentialLR(o, [
        torch.optim.lr_scheduler.LinearLR(o, start_factor=1 / warmup, total_iters=warmup - 1),
        torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total - warmup)], milestones=[warmup]), total, lr)
    assert [ours(step) for step in range(total)] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("name, options", [("constant", {}), ("step", {"step_size": 5, "gamma": 0.3}),
                                           ("cosine", {"min_lr": 0.01}), ("onecycle", {"pct_start": 0.4})])
@pytest.mark.parametrize("warmup_steps", [0, 4])
def test_config_is_json_and_rebuilds(name, options, warmup_steps):
    schedule = make_schedule(name, lr=0.1, total_steps=20, warmup_steps=warmup_steps, **options)
    config = json.loads(json.dumps(schedule.config()))
    rebuilt = make_schedule(**config)
    assert [rebuilt(step) for step in range(25)] == [schedule(step) for step in range(25)]
    assert schedule.total_steps == 20


def test_step_drops_twice_by_default():
    schedule = make_schedule("step", lr=1.0, total_steps=9)
    assert [schedule(step) for step in range(9)] == pytest.approx([1.0] * 3 + [0.1] * 3 + [0.01] * 3)
    assert schedule.config()["step_size"] == 3


def test_warmup_rises_linearly_to_the_schedule():
    schedule = make_schedule("constant", lr=0.4, total_steps=10, warmup_steps=4)
    assert [schedule(step) for step in range(6)] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.4, 0.4])


def test_after_the_last_step_the_final_rate_stays():
    schedule = make_schedule("onecycle", lr=1.0, total_steps=10)
    assert schedule(9) == schedule(10) == schedule(1000) == pytest.approx(1 / 25 / 1e4)


def test_schedule_errors():
    with pytest.raises(ValueError, match=r"unknown schedule 'cosin'; did you mean 'cosine'\?"):
        make_schedule("cosin", lr=0.1, total_steps=10)
    with pytest.raises(ValueError, match=r"warmup_steps must be ≥ 0 and fewer than total_steps"):
        make_schedule("cosine", lr=0.1, total_steps=10, warmup_steps=10)
    with pytest.raises(ValueError, match=r"total_steps ≥ 1"):
        make_schedule("constant", lr=0.1, total_steps=0)
    with pytest.raises(ValueError, match=r"step_size ≥ 1"):
        make_schedule("step", lr=0.1, total_steps=10, step_size=0)
    with pytest.raises(ValueError, match=r"pct_start·total_steps > 1"):
        make_schedule("onecycle", lr=0.1, total_steps=3, pct_start=0.3)
    with pytest.raises(TypeError):
        make_schedule("constant", lr=0.1, total_steps=10, gamma=0.5)
    with pytest.raises(ValueError, match=r"steps count from 0"):
        make_schedule("constant", lr=0.1, total_steps=10)(-1)

"""experiments/airbench94_original.py: airbench94's own code made to run on the CPU."""

import importlib

import pytest

airbench = importlib.import_module("airbench94_original")

# The lines of legacy/airbench94.py (KellerJordan/cifar10-airbench, f1c599c) that the
# patches touch, as they are written there.
EXCERPT = '''
        data = torch.load(data_path, map_location=torch.device(gpu))
        self.images = (self.images.half() / 255).permute(0, 3, 1, 2)
    net = net.half().cuda()
    test_loader = CifarLoader('cifar10', train=False, batch_size=2000)
    train_loader = CifarLoader('cifar10', train=True, batch_size=batch_size, aug=hyp['aug'])

if __name__ == "__main__":
    accs = torch.tensor([main(run) for run in range(25)])
'''


def test_the_cuda_calls_are_replaced_and_the_data_folder_is_ours():
    code = airbench.cpu_source(EXCERPT, "/data/here")
    for cuda in (".half()", ".cuda()", "torch.device(gpu)", "'cifar10'"):
        assert cuda not in code
    assert code.count("CifarLoader('/data/here'") == 2
    assert "map_location='cpu'" in code and "net = net.float()" in code
    assert "range(25)" not in code  # the 25 runs of its __main__ block are left out


def test_another_file_is_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"f1c599c.*'\.cuda\(\)'.*Fix: download"):
        airbench.cpu_source(EXCERPT.replace(".cuda()", ".to('cuda')"), "/data")


def test_cpu_event_times_in_milliseconds(monkeypatch):
    clock = iter([1.0, 1.25])
    monkeypatch.setattr(airbench.time, "perf_counter", lambda: next(clock))
    start, end = airbench.CpuEvent(), airbench.CpuEvent()
    start.record(); end.record()
    assert start.elapsed_time(end) == pytest.approx(250.0)

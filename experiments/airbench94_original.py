"""airbench94's own PyTorch code, run on this course's data on a CPU: what the speedrun's port is
measured against (docs/speedrun.md, "Is the port faithful?").

The code is not copied here: download ``legacy/airbench94.py`` of
github.com/KellerJordan/cifar10-airbench (commit f1c599c, the 94.01% version) and pass
its path. Its CUDA calls are replaced for the CPU (float32 in place of float16, the CPU
clock in place of CUDA events); nothing else changes: its network, schedule, data
order, augmentation and TTA are its own. It trains on the training images of
``$CIFAR_COURSE_DATA`` (all 50,000, its own setting, or a stratified ``--train-size``)
and tests on the 10,000 test images:

    python experiments/airbench94_original.py --airbench airbench94.py --seed 0

The arrays it hands airbench (``train.pt``, ``test.pt``, as its loader reads them) are
written under the course's cache folder, never into the repository.
"""

from __future__ import annotations

import argparse
import os
import time

# Replacements that run airbench94's CUDA code on the CPU; each must occur in the file.
CPU_PATCHES = ((".half()", ".float()"), (".cuda()", ""), ("torch.device(gpu)", "'cpu'"))
MAIN_GUARD = 'if __name__ == "__main__":'


def cpu_source(source: str, data_folder: str) -> str:
    """airbench94's source with its CUDA calls replaced and its data read from ``data_folder``;
    without its ``__main__`` block (25 runs), so that one run can be called."""
    patches = CPU_PATCHES + (("CifarLoader('cifar10'", f"CifarLoader({data_folder!r}"),)
    missing = [old for old, _ in patches + ((MAIN_GUARD, ""),) if old not in source]
    if missing:
        raise ValueError(f"not airbench94's legacy/airbench94.py at commit f1c599c: no "
                         f"{', '.join(map(repr, missing))} in it. Fix: download that file.")
    for old, new in patches:
        source = source.replace(old, new)
    return source.split(MAIN_GUARD)[0]


class CpuEvent:
    """``torch.cuda.Event(enable_timing=True)`` on the CPU clock."""

    def __init__(self, enable_timing: bool = True):
        self.time = None

    def record(self):
        self.time = time.perf_counter()

    def elapsed_time(self, end: "CpuEvent") -> float:  # milliseconds, as CUDA's
        return 1e3 * (end.time - self.time)


def write_airbench_data(folder, train_size: int | None) -> int:
    """The course's arrays as airbench's loader reads them; returns the training images' count."""
    import numpy as np
    import torch

    from cifar_course.data import load_cifar10, stratified_subset

    (x_train, y_train), (x_test, y_test) = load_cifar10()
    x_train, y_train = stratified_subset(x_train, y_train, train_size, seed=0)
    classes = [str(label) for label in range(10)]
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        torch.save({"images": torch.tensor(x), "classes": classes,
                    "labels": torch.tensor(np.ravel(y), dtype=torch.int64)},
                   os.path.join(folder, f"{name}.pt"))
    return len(x_train)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--airbench", required=True, help="path of legacy/airbench94.py")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-size", type=int, default=None,
                        help="a stratified subset of the training images (default: all)")
    args = parser.parse_args()

    os.environ.setdefault("KERAS_BACKEND", "torch")
    import torch

    from cifar_course.data.loading import cache_dir

    with open(args.airbench) as file:
        source = file.read()
    folder = cache_dir() / "airbench94" / f"train{args.train_size or 'all'}"
    folder.mkdir(parents=True, exist_ok=True)
    n_train = write_airbench_data(folder, args.train_size)
    code = cpu_source(source, str(folder))

    torch.cuda.Event, torch.cuda.synchronize = CpuEvent, lambda: None
    torch.manual_seed(args.seed)
    namespace = {"__name__": "airbench94"}
    exec(compile(code, args.airbench, "exec"), namespace)
    namespace["print_columns"](namespace["logging_columns_list"], is_head=True)
    start = time.perf_counter()
    accuracy = namespace["main"](args.seed)
    print(f"airbench94 (its own code, float32 on the CPU), seed {args.seed}, {n_train} training "
          f"images: test accuracy with TTA {accuracy:.4f}; {time.perf_counter() - start:.0f} s "
          f"with {torch.get_num_threads()} torch threads")


if __name__ == "__main__":
    main()

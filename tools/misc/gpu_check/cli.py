"""The command line: the step list, run in order, each timed and recorded."""
import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional

from . import install, prepare
from .record import FAILED, PASSED, SKIPPED, Record, Skip, StepResult, first_error_line

REPO = install.REPO


USAGE = """CGD on a GPU, prepared here and run there in one command:
  1. here (pip and PyPI only):  bash tools/misc/gpu_check.sh --prepare .gpu_carry
  2. there (no registry, .gpu_carry carried beside the repo):
                                bash tools/misc/gpu_check.sh --out OUT_DIR [--quick]
  3. or here, small:            bash tools/misc/gpu_check.sh --device cpu --tiny
On a machine with the stack installed, step 2 uses what imports and builds only what is
missing (no carried folder needed if nothing is). Each step is timed and written to
OUT/gpu_check.json and .md as it finishes."""


@dataclass
class Step:
    name: str
    seconds: int  # expected on the H200 from bare (estimates; see STEP_TIMES_NOTE)
    fn: Callable
    needs_mmcv: bool = False  # mmcv's compiled ops must import
    quick: bool = False  # part of --quick
    cuda_build: bool = False  # only with --with-mmcv-cuda


STEP_TIMES_NOTE = ('expected seconds on the H200 (16 cores) from bare: estimates from the run '
                   'of 2026-12-04 (mmcv CPU-ops build 155 s at 16 jobs, first imports 27 s) '
                   'and these steps\' sizes, not yet measured as a whole')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog='gpu_check', description=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=steps_help())
    add = parser.add_argument
    add('--prepare', metavar='DIR', type=Path,
        help='CPU machine: download the carried folder into DIR, check its size, and stop')
    add('--device', default='cuda', choices=['cuda', 'cpu'],
        help='cuda (default): the GPU check; cpu: the same steps on CPU (with --tiny)')
    add('--tiny', action='store_true', help='every step at a toy size (for --device cpu)')
    add('--quick', action='store_true', help='environment, install, the layer\'s numerics and '
        'cost, one detector comparison: about 4 minutes on the H200')
    add('--with-mmcv-cuda', action='store_true', help="also build mmcv's CUDA ops for this GPU "
        '(opt-in: over 6 minutes on the H200) and check them against its CPU ops')
    add('--carried', type=Path, default=REPO / '.gpu_carry',
        help='the folder --prepare wrote (default: .gpu_carry in the repo)')
    add('--out', type=Path, default=REPO / 'work_dirs' / 'gpu_check',
        help='gpu_check.json, gpu_check.md, gpu_check.log, artifacts.tar.gz')
    add('--work', type=Path, default=Path('/tmp/gpu_check'),
        help='installs, builds, data and logs')
    add('--budget', type=float, help='seconds for all steps; a step not started in time is '
        'skipped (default on cuda: 540, 240 with --quick; none on cpu)')
    add('--iters', type=int, help='Mask R-CNN iterations per model (default on cuda: 100, '
        '30 with --quick)')
    add('--only', nargs='+', metavar='STEP', help='run only the steps whose names start so '
        '(and the environment, stack and mmcv build steps they need)')
    args = parser.parse_args(argv)
    if args.budget is None:
        args.budget = (240.0 if args.quick else 540.0) if args.device == 'cuda' else float('inf')
    if args.iters is None:
        args.iters = 3 if args.tiny else (30 if args.quick else 100)
    return args


def steps_help() -> str:
    full = [s for s in STEPS if not s.cuda_build]
    lines = [f'steps, in order ({STEP_TIMES_NOTE}; q: in --quick):']
    lines += [f"  {s.seconds:4d} s {'q' if s.quick else ' '} {s.name}" for s in full]
    lines += [f'  {sum(s.seconds for s in full):4d} s   in all; --quick '
              f'{sum(quick_seconds(s) for s in full if s.quick)} s',
              'with --with-mmcv-cuda, after the rest: '
              + '; '.join(f'{s.name} ({s.seconds} s)' for s in STEPS if s.cuda_build)]
    return '\n'.join(lines)


def quick_seconds(step: Step) -> int:
    return QUICK_SECONDS.get(step.name, step.seconds)


class Context:
    """What the steps share: options, paths, the clock, the background builds, the stack."""

    def __init__(self, args):
        self.args, self.cpu = args, args.device == 'cpu'
        self.work = args.work.resolve()
        self.logs = self.work / 'logs'
        self.logs.mkdir(parents=True, exist_ok=True)
        self.start = time.perf_counter()
        self.builds = {}  # 'cpu' / 'cuda': (process, tree, log) while building
        self.mmcv_tree = None  # the built mmcv the steps import (None: the installed one)
        self.mmcv_ready = False  # mmcv's compiled ops import
        self.mmcv_cuda_ops = False  # ... and run on CUDA: no substitutes needed
        self.cuda_tree = None
        self.info = {}

    def left(self) -> float:
        return self.args.budget - (time.perf_counter() - self.start)

    @property
    def substitutes(self) -> bool:
        """torchvision's NMS and RoIAlign for the detectors: wherever mmcv has no CUDA ops
        (and on CPU, which runs the GPU machine's path)."""
        return not self.mmcv_cuda_ops

    def env(self, mmcv_tree: Optional[Path] = None) -> dict:
        env = dict(os.environ, PYTHONUNBUFFERED='1', TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD='0',
                   PYTHONPATH=install.python_path(self.work, mmcv_tree or self.mmcv_tree))
        if self.cpu:
            env.setdefault('OMP_NUM_THREADS', '2')
        return env

    def timeout(self, limit: float) -> float:
        return max(30.0, min(limit, self.left()))

    def worker(self, name: str, target: str, limit: float, mmcv_tree: Optional[Path] = None,
               **kwargs) -> dict:
        """``gpu_check.MODULE:FUNCTION(**kwargs)`` in a fresh process."""
        result = self.work / f'{slug(name)}.json'
        result.unlink(missing_ok=True)
        log = self.logs / f'{slug(name)}.log'
        cmd = [sys.executable, '-m', 'gpu_check.worker', target, str(result), json.dumps(kwargs)]
        timeout = self.timeout(limit)
        with open(log, 'w') as f:
            try:
                subprocess.run(cmd, cwd=REPO, env=self.env(mmcv_tree), stdout=f,
                               stderr=subprocess.STDOUT, timeout=timeout)
            except subprocess.TimeoutExpired:
                raise TimeoutError(f'no result after {timeout:.0f} s (log: {log.name})') from None
        if not result.is_file():
            raise RuntimeError(f'the process died: {first_error_line(log.read_text())}')
        data = json.loads(result.read_text())
        if data['status'] == SKIPPED:
            raise Skip(data['reason'])
        if data['status'] == FAILED:
            raise RuntimeError(data['reason'])
        return data['details']


def slug(name: str) -> str:
    return ''.join(c if c.isalnum() else '_' for c in name.lower()).strip('_')[:60]


# ---- the steps: each fn(ctx) -> details (a dict with a one-line 'summary') -----------------

def environment(ctx):
    code = ('import json, os, torch; c = torch.cuda.is_available(); print(json.dumps(dict('
            'torch=torch.__version__, cuda=torch.version.cuda, gpu=torch.cuda.get_device_name() '
            'if c else None, capability=".".join(map(str, torch.cuda.get_device_capability())) '
            'if c else None, cores=os.cpu_count())))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    info = json.loads(out.strip().splitlines()[-1])
    nvcc = subprocess.run('nvcc --version | tail -n 2 | head -n 1', shell=True,
                          capture_output=True, text=True).stdout.strip() or 'no nvcc'
    info.update(nvcc=nvcc, python=platform.python_version())
    if ctx.args.device == 'cuda' and not info['gpu']:
        raise RuntimeError('torch sees no CUDA device: use --device cpu')
    ctx.info = info
    return dict(summary=f"{info['gpu'] or 'CPU'} (capability {info['capability']}), "
                        f"{info['cores']} cores, torch {info['torch']} (CUDA {info['cuda']}), "
                        f"{nvcc}", **info)


def stack(ctx):
    """Use what imports; install the carried wheels of what does not; say which."""
    found = install.probe(ctx.env())
    mmcv = found['mmcv']
    wheels = install.missing_wheels(ctx.args.carried, found['found'])
    absent = sorted(m for m, ok in found['found'].items() if not ok)
    have = {install.MODULES.get(w.name.split('-')[0].lower()) for w in wheels}
    if set(absent) - have:
        raise FileNotFoundError(f'{sorted(set(absent) - have)} do not import here and '
                                f'{ctx.args.carried} has no wheel for them: run --prepare DIR on '
                                'a machine with PyPI and carry DIR (--carried DIR)')
    if wheels:
        install.install_wheels(wheels, ctx.work)
    ctx.mmcv_ready = install.mmcv_usable(mmcv)
    ctx.mmcv_cuda_ops = ctx.mmcv_ready and mmcv['cuda_ops']
    if not ctx.mmcv_ready:
        if not list(ctx.args.carried.glob('mmcv-*.tar.gz')):
            why = mmcv['error'] or 'not installed'
            raise FileNotFoundError(f"mmcv's compiled ops do not import here ({why}) and "
                                    f'{ctx.args.carried} has no mmcv source release: run '
                                    '--prepare DIR and carry DIR')
    used = sorted(m for m, ok in found['found'].items() if ok)
    mmcv_text = (f"mmcv {mmcv['version']} installed, compiled ops "
                 f"{'CPU and CUDA' if ctx.mmcv_cuda_ops else 'CPU only'}: used as it is"
                 if ctx.mmcv_ready else
                 f"mmcv: to build from {ctx.args.carried.name}'s source release "
                 f"({mmcv['error'] or 'not installed'})")
    carried = ', '.join(w.name.split('-')[0] for w in wheels) or 'nothing'
    return dict(summary=f"used installed: {', '.join(used) or 'nothing'}; installed from the "
                        f'carried folder: {carried}; {mmcv_text}; detectors: '
                        + ('torchvision NMS/RoIAlign substitutes' if ctx.substitutes
                           else "mmcv's own CUDA ops"),
                used=used, installed=[w.name for w in wheels], mmcv=mmcv,
                mmcv_built=not ctx.mmcv_ready, substitutes=ctx.substitutes)


def start_mmcv_cpu_build(ctx):
    if ctx.mmcv_ready:
        raise Skip('mmcv with its compiled ops imports: nothing to build')
    jobs = os.cpu_count()
    ctx.builds['cpu'] = install.start_mmcv_build(ctx.args.carried, ctx.work, None, jobs)
    return dict(summary=f'started with MAX_JOBS={jobs} (CUDA hidden from the build); the '
                        "layer's steps run meanwhile", jobs=jobs)


def wait_mmcv_cpu_build(ctx):
    if ctx.mmcv_ready:
        raise Skip('mmcv with its compiled ops imports: nothing built')
    if 'cpu' not in ctx.builds:
        raise Skip('the build did not start (see the step before)')
    ctx.mmcv_tree = install.wait_mmcv_build(ctx.builds.pop('cpu'), ctx.left() - 45)
    ctx.mmcv_ready = True
    return dict(summary=f'mmcv CPU ops built in {ctx.mmcv_tree}', tree=str(ctx.mmcv_tree))


def start_mmcv_cuda_build(ctx):
    if ctx.mmcv_cuda_ops:
        raise Skip("mmcv's CUDA ops import: nothing to build")
    if ctx.cpu:
        raise Skip('--device cpu: no CUDA ops to build')
    arch = ctx.info['capability']
    jobs = os.cpu_count()
    ctx.builds['cuda'] = install.start_mmcv_build(ctx.args.carried, ctx.work, arch, jobs)
    return dict(summary=f'started: TORCH_CUDA_ARCH_LIST={arch}, MAX_JOBS={jobs}, CXX g++-std20, '
                        'PYTORCH_NVCC nvcc-std20', arch=arch, jobs=jobs)


def wait_mmcv_cuda_build(ctx):
    if ctx.mmcv_cuda_ops:
        raise Skip("mmcv's CUDA ops import: nothing built")
    if 'cuda' not in ctx.builds:
        raise Skip('the CUDA build did not start (see the steps before)')
    ctx.cuda_tree = install.wait_mmcv_build(ctx.builds.pop('cuda'), ctx.left() - 60)
    return dict(summary=f'mmcv CUDA ops built in {ctx.cuda_tree}', tree=str(ctx.cuda_tree))


def mmcv_cuda_ops(ctx):
    if not (ctx.mmcv_cuda_ops or ctx.cuda_tree):
        raise Skip("no mmcv with CUDA ops (neither installed nor built)")
    return ctx.worker('mmcv cuda ops', 'checks:mmcv_cuda_ops', 120, mmcv_tree=ctx.cuda_tree,
                      device=ctx.args.device)


def imports(ctx):
    return ctx.worker('imports', 'checks:imports', 300, device=ctx.args.device)


def substitutes_vs_mmcv(ctx):
    return ctx.worker('substitutes', 'substitutes:same_detections', 300)


def numerics(function):
    def step(ctx):
        return ctx.worker(function, f'numerics:{function}', 300, device=ctx.args.device,
                          tiny=ctx.args.tiny)
    return step


def overfit(ctx):
    return ctx.worker('overfit', 'training:overfit', 300, device=ctx.args.device,
                      tiny=ctx.args.tiny)


def cost(function):
    def step(ctx):
        return ctx.worker(function, f'cost:{function}', 300, device=ctx.args.device,
                          tiny=ctx.args.tiny)
    return step


def maskrcnn(ctx):
    return ctx.worker('maskrcnn', 'detection:maskrcnn_speed', 420, device=ctx.args.device,
                      tiny=ctx.args.tiny, work=str(ctx.work), iters=ctx.args.iters,
                      substitutes=ctx.substitutes)


def dist_train(ctx):
    return ctx.worker('dist train', 'detection:dist_train', 300, device=ctx.args.device,
                      tiny=ctx.args.tiny, work=str(ctx.work), iters=2 if ctx.args.tiny else 10,
                      substitutes=ctx.substitutes)


def demo(ctx):
    return ctx.worker('demo', 'detection:demo_time_to_ap', 400, device=ctx.args.device,
                      tiny=ctx.args.tiny, work=str(ctx.work), target_map=0.5,
                      substitutes=ctx.substitutes)


STEPS = [
    Step('environment', 5, environment, quick=True),
    Step('stack: use what imports, install the rest', 10, stack, quick=True),
    Step('start mmcv CPU-ops build (background)', 2, start_mmcv_cpu_build, quick=True),
    Step('CGD layer vs float64 (torch only)', 15, numerics('check_layer'), quick=True),
    Step('CGD layer vs its 7-pass bound (torch only)', 30, cost('layer_bound'), quick=True),
    Step('CGD layer under torch.compile(fullgraph=True) (torch only)', 20,
         numerics('check_compile')),
    # what is left of the 155 s build after the torch-only steps beside it (20 s more in --quick)
    Step('mmcv CPU-ops build', 95, wait_mmcv_cpu_build, quick=True),
    Step('imports', 15, imports, needs_mmcv=True),
    Step('torchvision substitutes vs mmcv CPU ops', 15, substitutes_vs_mmcv, needs_mmcv=True),
    Step('CGD at every position vs float64', 30, numerics('check_positions'), needs_mmcv=True),
    Step('one batch overfit: float32, AMP float16, bfloat16', 35, overfit, needs_mmcv=True),
    Step('ResNet-50 training step, CGD vs plain, float32 and AMP', 45, cost('backbone_steps'),
         needs_mmcv=True),
    Step('Mask R-CNN paper config, CGD vs plain (--amp)', 80, maskrcnn, needs_mmcv=True,
         quick=True),
    Step('tools/dist_train.sh CONFIG 1', 40, dist_train, needs_mmcv=True),
    Step('demo config to bbox mAP 0.5', 90, demo, needs_mmcv=True),
    Step('start mmcv CUDA build (background)', 2, start_mmcv_cuda_build, cuda_build=True),
    Step('mmcv CUDA build', 400, wait_mmcv_cuda_build, cuda_build=True),
    Step('mmcv CUDA ops vs CPU ops', 20, mmcv_cuda_ops, cuda_build=True),
]
QUICK_SECONDS = {'Mask R-CNN paper config, CGD vs plain (--amp)': 45}


def selected(args) -> List[Step]:
    steps = [s for s in STEPS if (args.with_mmcv_cuda or not s.cuda_build)
             and (s.quick or not args.quick)]
    if args.only:  # with what every step stands on: the stack and, where needed, mmcv's build
        steps = [s for s in steps if s.fn in (environment, stack, start_mmcv_cpu_build,
                                              wait_mmcv_cpu_build)
                 or any(s.name.startswith(o) for o in args.only)]
    return steps


def run_step(ctx, step: Step) -> StepResult:
    start = time.perf_counter()
    try:
        if step.needs_mmcv and not ctx.mmcv_ready:
            raise Skip("needs mmcv's compiled ops, which did not import or build (see above)")
        if ctx.left() <= 0:
            raise Skip(f'out of time: the budget of {ctx.args.budget:.0f} s is spent')
        details = step.fn(ctx) or {}
        status, reason = PASSED, ''
    except Skip as skip:
        status, reason, details = SKIPPED, str(skip), {}
    except Exception as error:  # the record says why; the next steps still run
        status, details = FAILED, {}
        reason = f'{type(error).__name__}: {(str(error).strip().splitlines() or [""])[0]}'[:500]
    summary = details.pop('summary', '')
    return StepResult(step.name, step.seconds, status, time.perf_counter() - start, reason,
                      summary, details)


def pack_artifacts(ctx, out: Path) -> None:
    """The logs in one file (what comes back is a few files)."""
    with tarfile.open(out / 'artifacts.tar.gz', 'w:gz') as tar:
        for path in (ctx.logs, ctx.work / 'dist_train.log'):
            if path.exists():
                tar.add(path, arcname=path.name)


def main(argv=None):
    args = parse_args(argv)
    if args.prepare:
        sizes = prepare.prepare(args.prepare.resolve(), REPO)
        print(f'[gpu_check] prepared {args.prepare}: {sizes["carried_mib"]} MiB carried + '
              f'{sizes["tree_mib"]} MiB working tree (limit {sizes["limit_mib"]} MiB); files: '
              + ', '.join(sizes['files']))
        print(f'[gpu_check] next, on the GPU machine: carry {args.prepare} with the repo and run '
              f'bash tools/misc/gpu_check.sh --carried {args.prepare} --out OUT_DIR')
        return 0
    ctx = Context(args)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    record = Record(out, dict(command=shlex.join(['bash', 'tools/misc/gpu_check.sh',
                                                  *(argv or sys.argv[1:])]),
                              device=args.device, tiny=args.tiny, quick=args.quick,
                              with_mmcv_cuda=args.with_mmcv_cuda, budget_s=args.budget,
                              python=platform.python_version()))
    log = open(out / 'gpu_check.log', 'a')

    def say(text):
        print(text, flush=True)
        log.write(text + '\n')
        log.flush()

    for step in selected(args):
        say(f'[gpu_check] {time.perf_counter() - ctx.start:6.0f} s  {step.name} ...')
        result = run_step(ctx, step)
        name = step.name
        if name == 'environment' and result.status == PASSED:
            record.update_header(machine=f"{ctx.info['gpu'] or 'CPU'}, {ctx.info['cores']} cores",
                                 torch=ctx.info['torch'], nvcc=ctx.info['nvcc'])
        if name.startswith('stack') and result.status == PASSED:
            record.update_header(detector_ops=(
                "torchvision's NMS and RoIAlign in place of mmcv's (no mmcv CUDA ops)"
                if ctx.substitutes else "mmcv's own CUDA ops"))
        record.add(result)
        say(f'[gpu_check] {result.status}: {name} ({result.seconds:.1f} s) '
            f'{result.reason or result.summary}')
    for proc, _tree, _log in ctx.builds.values():
        if proc.poll() is None:
            proc.kill()
    pack_artifacts(ctx, out)
    failed = [s.name for s in record.steps if s.status == FAILED]
    say(f'[gpu_check] done in {time.perf_counter() - ctx.start:.0f} s: '
        f'{sum(s.status == PASSED for s in record.steps)} passed, {len(failed)} failed, '
        f'{sum(s.status == SKIPPED for s in record.steps)} skipped; {out / "gpu_check.md"}')
    print((out / 'gpu_check.md').read_text().split('\n## ')[0])
    return 1 if failed else 0

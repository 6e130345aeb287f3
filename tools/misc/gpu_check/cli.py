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
from pathlib import Path

from . import install, prepare
from .record import FAILED, PASSED, SKIPPED, Record, Skip, StepResult, first_error_line

REPO = install.REPO
COST_TOOL = REPO / 'tools' / 'analysis_tools' / 'measure_cgd_cost.py'
PAPER = 'CGD paper (before_norm1)'


USAGE = """CGD on a GPU, prepared here and run there in one command:
  1. here (with PyPI):   bash tools/misc/gpu_check.sh --prepare .gpu_carry
  2. there (no registry, .gpu_carry carried beside the repo):
                         bash tools/misc/gpu_check.sh --out OUT_DIR
  3. or here, small:     bash tools/misc/gpu_check.sh --device cpu --tiny
Each step is timed and written to OUT/gpu_check.json and .md as it finishes."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog='gpu_check', description=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='steps, in order: ' + '; '.join(name for name, _, _ in STEPS))
    add = parser.add_argument
    add('--prepare', metavar='DIR', type=Path,
        help='CPU machine: download the carried folder into DIR, check its size, and stop')
    add('--device', default='cuda', choices=['cuda', 'cpu'],
        help='cuda (default): the GPU check; cpu: the same steps on CPU (with --tiny)')
    add('--tiny', action='store_true', help='every step at a toy size (for --device cpu)')
    add('--carried', type=Path, default=REPO / '.gpu_carry',
        help='the folder --prepare wrote (default: .gpu_carry in the repo)')
    add('--out', type=Path, default=REPO / 'work_dirs' / 'gpu_check',
        help='gpu_check.json, gpu_check.md, gpu_check.log, artifacts.tar.gz')
    add('--work', type=Path, default=Path('/tmp/gpu_check'),
        help='installs, builds, data and logs')
    add('--budget', type=float, help='seconds for all steps; a step not started in time is '
        'skipped (default: 540 on cuda, none on cpu)')
    add('--iters', type=int, default=200, help='Mask R-CNN iterations per model (cuda)')
    add('--only', nargs='+', metavar='STEP', help='run only the steps whose names start so')
    args = parser.parse_args(argv)
    if args.budget is None:
        args.budget = 540.0 if args.device == 'cuda' else float('inf')
    return args


class Context:
    """What the steps share: options, paths, the clock, the background build."""

    def __init__(self, args):
        self.args, self.cpu = args, args.device == 'cpu'
        self.work = args.work.resolve()
        self.logs = self.work / 'logs'
        self.logs.mkdir(parents=True, exist_ok=True)
        self.start = time.perf_counter()
        self.cuda_build = None
        self.mmcv_tree = {1: self.work / 'mmcv_cpu' / 'mmcv-2.1.0',
                          2: self.work / 'mmcv_cuda' / 'mmcv-2.1.0'}

    def left(self) -> float:
        return self.args.budget - (time.perf_counter() - self.start)

    def env(self, tier: int) -> dict:
        tree = None if self.cpu else self.mmcv_tree[tier]
        env = dict(os.environ, PYTHONPATH=install.python_path(self.work, tree),
                   PYTHONUNBUFFERED='1', TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD='0')
        if self.cpu:
            env.setdefault('OMP_NUM_THREADS', '2')
        return env

    def worker(self, name: str, tier: int, target: str, timeout: float, **kwargs) -> dict:
        """``gpu_check.MODULE:FUNCTION(**kwargs)`` in a fresh process of this tier."""
        result = self.work / f'{slug(name)}.json'
        result.unlink(missing_ok=True)
        log = self.logs / f'{slug(name)}.log'
        cmd = [sys.executable, '-m', 'gpu_check.worker', target, str(result), json.dumps(kwargs)]
        with open(log, 'w') as f:
            try:
                subprocess.run(cmd, cwd=REPO, env=self.env(tier), stdout=f,
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

    def tool(self, name: str, tier: int, cmd, timeout: float) -> str:
        """A command line of this repo in this tier's environment; its output."""
        log = self.logs / f'{slug(name)}.log'
        with open(log, 'w') as f:
            try:
                code = subprocess.run([sys.executable, *map(str, cmd)], cwd=REPO,
                                      env=self.env(tier), stdout=f, stderr=subprocess.STDOUT,
                                      timeout=timeout).returncode
            except subprocess.TimeoutExpired:
                raise TimeoutError(f'not done after {timeout:.0f} s (log: {log.name})') from None
        if code:
            raise RuntimeError(f'exit {code}: {first_error_line(log.read_text())}')
        return log.read_text()


def slug(name: str) -> str:
    return ''.join(c if c.isalnum() else '_' for c in name.lower()).strip('_')[:60]


def needs_gpu_machine(ctx: Context) -> None:
    if ctx.cpu:
        raise Skip('--device cpu: this machine has the stack installed; nothing to build')


# ---- the steps: (name, tier, seconds allowed, function(ctx) -> details) --------------------

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


def install_wheels(ctx):
    needs_gpu_machine(ctx)
    return install.install_wheels(ctx.args.carried, ctx.work)


def build_mmcv_cpu(ctx):
    needs_gpu_machine(ctx)
    return install.build_mmcv(ctx.args.carried, ctx.work, os.cpu_count())


def start_cuda_build(ctx):
    needs_gpu_machine(ctx)
    arch = ctx.info['capability']
    jobs = max(1, os.cpu_count() - 2)  # two cores left for tier 1's processes
    ctx.cuda_build = install.start_mmcv_cuda_build(ctx.args.carried, ctx.work, arch, jobs)
    return dict(summary=f'started: TORCH_CUDA_ARCH_LIST={arch}, MAX_JOBS={jobs}, CXX g++-std20, '
                        'PYTORCH_NVCC nvcc-std20; tier 1 runs meanwhile', arch=arch, jobs=jobs)


def tier_imports(tier):
    def step(ctx):
        return ctx.worker(f'imports tier {tier}', tier, 'checks:imports', 300,
                          device=ctx.args.device)
    return step


def numerics(function):
    def step(ctx):
        return ctx.worker(function, 1, f'numerics:{function}', 300, device=ctx.args.device,
                          tiny=ctx.args.tiny)
    return step


def training(dtype):
    def step(ctx):
        return ctx.worker(f'train {dtype}', 1, 'training:train_steps', 300,
                          device=ctx.args.device, tiny=ctx.args.tiny, dtype=dtype)
    return step


def cost_study(mode):
    """tools/analysis_tools/measure_cgd_cost.py, whose report is kept whole."""
    def step(ctx):
        out = ctx.work / 'cost' / mode
        if ctx.args.tiny:
            size = ['--size', '64', '64', '--batch', '1', '--rounds', '2', '--memory-runs', '1',
                    '--layer-shape', '1', '8', '16', '16', '--layer-rounds', '2', '--warmup', '1']
        else:  # the detectors' input size; the layer at layer1's activation there
            size = ['--size', '800', '1216', '--batch', '2', '--rounds', '10', '--memory-runs',
                    '1', '--layer-shape', '2', '256', '200', '304', '--layer-rounds', '20',
                    '--warmup', '2']
        # the layer's bound: float32 on the GPU (the cost study's own tests run it on CPU)
        layer = ['--layer-processes', '2' if mode == 'float32' and not ctx.args.tiny else '0']
        # every plugin in float32 on the GPU; plain against the paper's placement otherwise
        variants = [] if mode == 'float32' and not ctx.args.tiny else ['--variants', 'plain',
                                                                        PAPER]
        extra = []
        if mode == 'amp':
            extra = ['--amp', 'bfloat16' if ctx.cpu else 'float16']
        elif mode == 'compile':
            extra = ['--compile', 'eager' if ctx.args.tiny else 'inductor']
        cmd = [COST_TOOL, '--device', ctx.args.device, *size, *layer, *variants, *extra,
               '--headline-rounds', '0', '--flops-size', '0', '0', '--out-dir', out]
        ctx.tool(f'cost {mode}', 1, cmd, 420)
        markdown = (out / 'benchmark.md').read_text()
        body = markdown.split('## Targets', 1)[-1]
        return dict(summary=f'{" ".join(map(str, extra)) or "float32 eager"}: report in '
                            f'artifacts (cost/{mode}/benchmark.md)',
                    markdown='### Targets' + body.split('![benchmark]')[0],
                    raw=json.loads((out / 'benchmark.json').read_text())['models'])
    return step


def wait_cuda_build(ctx):
    needs_gpu_machine(ctx)
    return install.wait_mmcv_cuda_build(ctx.cuda_build, ctx.left() - 150)


def mmcv_cuda_ops(ctx):
    return ctx.worker('mmcv cuda ops', 2, 'checks:mmcv_cuda_ops', 120, device=ctx.args.device)


def maskrcnn(ctx):
    iters = 3 if ctx.args.tiny else ctx.args.iters
    return ctx.worker('maskrcnn', 2, 'detection:maskrcnn_speed', 420, device=ctx.args.device,
                      tiny=ctx.args.tiny, work=str(ctx.work), iters=iters)


def demo(ctx):
    return ctx.worker('demo', 2, 'detection:demo_time_to_ap', 400, device=ctx.args.device,
                      tiny=ctx.args.tiny, work=str(ctx.work), target_map=0.5)


STEPS = [
    ('environment', 0, environment),
    ('install carried wheels', 1, install_wheels),
    ('build mmcv with CPU ops', 1, build_mmcv_cpu),
    ('start mmcv CUDA build', 2, start_cuda_build),
    ('imports (tier 1)', 1, tier_imports(1)),
    ('CGD layer vs float64', 1, numerics('check_layer')),
    ('CGD at every position vs float64', 1, numerics('check_positions')),
    ('CGD-ResNet-50 training, AMP float16', 1, training('float16')),
    ('CGD-ResNet-50 training, bfloat16', 1, training('bfloat16')),
    ('cost study, float32 eager', 1, cost_study('float32')),
    ('cost study, AMP', 1, cost_study('amp')),
    ('cost study, torch.compile', 1, cost_study('compile')),
    ('mmcv CUDA build', 2, wait_cuda_build),
    ('mmcv CUDA ops', 2, mmcv_cuda_ops),
    ('Mask R-CNN paper config, CGD vs plain', 2, maskrcnn),
    ('demo config, time to bbox mAP 0.5', 2, demo),
]
# a tier-2 step whose install failed is skipped with that reason
DEPENDS = {'mmcv CUDA ops': 'mmcv CUDA build', 'Mask R-CNN paper config, CGD vs plain':
           'mmcv CUDA build', 'demo config, time to bbox mAP 0.5': 'mmcv CUDA build',
           'mmcv CUDA build': 'start mmcv CUDA build'}
TIER1_INSTALL = ('install carried wheels', 'build mmcv with CPU ops')


def run_step(ctx, record, name, tier, fn) -> StepResult:
    start = time.perf_counter()
    try:
        blocker = blocked(ctx, record, name, tier)
        if blocker:
            raise Skip(blocker)
        if ctx.left() <= 0:
            raise Skip(f'out of time: the budget of {ctx.args.budget:.0f} s is spent')
        details = fn(ctx) or {}
        status, reason = PASSED, ''
    except Skip as skip:
        status, reason, details = SKIPPED, str(skip), {}
    except Exception as error:  # the record says why; the next steps still run
        status, details = FAILED, {}
        reason = f'{type(error).__name__}: {(str(error).strip().splitlines() or [""])[0]}'[:500]
    summary = details.pop('summary', '')
    return StepResult(name, tier, status, time.perf_counter() - start, reason, summary, details)


def blocked(ctx, record, name, tier):
    if ctx.cpu:
        return None
    needed = [DEPENDS[name]] if name in DEPENDS else []
    if tier == 1 and name not in TIER1_INSTALL and name != 'environment':
        needed += TIER1_INSTALL
    for need in needed:
        if record.status(need) not in (PASSED, None):
            return f'needs "{need}", which {record.status(need)}'
    return None


def pack_artifacts(ctx, out: Path) -> None:
    """Logs and the cost study's reports in one file (what comes back is a few files)."""
    with tarfile.open(out / 'artifacts.tar.gz', 'w:gz') as tar:
        for path in (ctx.logs, ctx.work / 'cost'):
            if path.is_dir():
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
                              device=args.device, tiny=args.tiny, budget_s=args.budget,
                              python=platform.python_version()))
    log = open(out / 'gpu_check.log', 'a')

    def say(text):
        print(text, flush=True)
        log.write(text + '\n')
        log.flush()

    for name, tier, fn in STEPS:
        if args.only and not any(name.startswith(o) for o in args.only) and name != 'environment':
            continue
        say(f'[gpu_check] {time.perf_counter() - ctx.start:6.0f} s  {name} ...')
        result = run_step(ctx, record, name, tier, fn)
        if name == 'environment' and result.status == PASSED:
            record.update_header(machine=f"{ctx.info['gpu'] or 'CPU'}, {ctx.info['cores']} cores",
                                 torch=ctx.info['torch'], nvcc=ctx.info['nvcc'])
        record.add(result)
        say(f'[gpu_check] {result.status}: {name} ({result.seconds:.1f} s) '
            f'{result.reason or result.summary}')
    if ctx.cuda_build and ctx.cuda_build[0].poll() is None:
        ctx.cuda_build[0].kill()
    pack_artifacts(ctx, out)
    failed = [s.name for s in record.steps if s.status == FAILED]
    say(f'[gpu_check] done in {time.perf_counter() - ctx.start:.0f} s: '
        f'{sum(s.status == PASSED for s in record.steps)} passed, {len(failed)} failed, '
        f'{sum(s.status == SKIPPED for s in record.steps)} skipped; {out / "gpu_check.md"}')
    print((out / 'gpu_check.md').read_text().split('\n## ')[0])
    return 1 if failed else 0

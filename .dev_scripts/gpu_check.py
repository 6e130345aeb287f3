"""The Python half of ``.dev_scripts/gpu_check.sh`` (maintainers only; not shipped).

    python .dev_scripts/gpu_check.py prepare DIR        # here: the folder the GPU machine uses
    python .dev_scripts/gpu_check.py inductor OUT.json  # there: torch.compile on a training step

On the GPU machine the script copies this file into its install folder, where
``sitecustomize`` calls ``use_torchvision_ops_if_asked``: mmcv built there has CPU ops only, so
the detectors' NMS and RoIAlign run torchvision's CUDA kernels instead (same semantics).
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MiB = 2**20
# what the GPU machine's python3 lacks (it has torch, torchvision, numpy, opencv, scipy, ...)
WHEELS = ['mmengine==0.10.7', 'mmdet==3.3.0', 'pycocotools==2.0.11', 'shapely==2.2.0',
          'terminaltables==3.1.10', 'addict==2.4.0', 'yapf==0.43.0', 'platformdirs==4.14.8',
          'termcolor==3.3.0',
          'setuptools==80.10.2',  # pkg_resources: mmcv's build, mmengine's mmdet::
          # tests/test_pretraining imports mmpretrain: what it needs that the machine lacks
          'mmpretrain==1.2.0', 'mat4py==0.6.0', 'modelindex==0.0.2', 'model-index==0.1.11',
          'ordered-set==4.1.0', 'importlib-metadata==10.2.0', 'lazy-importer==0.1.0']
MMCV_SDIST, MMCV_SHA256 = ('mmcv-2.1.0.tar.gz',
                           'd387bcab66b467479b6660310e23746cfc79c6e57acf04094680adb499a5cd3f')
PLATFORMS = ['manylinux_2_28_x86_64', 'manylinux_2_27_x86_64', 'manylinux_2_24_x86_64',
             'manylinux_2_17_x86_64', 'manylinux2014_x86_64', 'manylinux1_x86_64']
LIMIT = 64 * MiB  # the working tree that travels to the GPU machine, carried folder included
ASK = 'CGD_TORCHVISION_OPS'  # set by gpu_check.sh for the steps that run detectors


def pip(*args, env=None):
    proc = subprocess.run([sys.executable, '-m', 'pip', *map(str, args)], env=env,
                          capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f'[gpu_check] pip {" ".join(map(str, args[:3]))} ... failed:\n'
                         f'{proc.stderr[-2000:]}')


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wheel_args(folder: Path) -> list:
    """``pip download`` of ``WHEELS`` as CPython 3.12 x86-64 Linux wheels, never built here."""
    return ['download', '-q', '--no-deps', '-d', folder, '--only-binary=:all:',
            '--python-version', '3.12', '--implementation', 'cp',
            *[f'--platform={p}' for p in PLATFORMS], *WHEELS]


def fetch_mmcv_sdist(folder: Path) -> Path:
    """mmcv's source release through pip by name, refused unless its sha256 is the pinned one.
    pip prepares an sdist's metadata by running its ``setup.py``, which imports ``pkg_resources``
    (setuptools < 81): setuptools < 81 goes to a scratch folder on ``PYTHONPATH`` and pip runs
    without build isolation (with the newest setuptools it failed, issue #25)."""
    target = folder / MMCV_SDIST
    if target.is_file() and sha256(target) == MMCV_SHA256:
        return target
    with tempfile.TemporaryDirectory() as scratch:
        tools, download = Path(scratch) / 'build-tools', Path(scratch) / 'sdist'
        pip('install', '-q', '--target', tools, 'setuptools<81', 'wheel')
        pip('download', '-q', '--no-deps', '--no-binary', ':all:', '--no-build-isolation',
            '-d', download, 'mmcv==2.1.0', env=dict(os.environ, PYTHONPATH=str(tools)))
        got = sha256(download / MMCV_SDIST)
        if got != MMCV_SHA256:
            raise SystemExit(f'[gpu_check] pip gave {MMCV_SDIST} with sha256 {got}, '
                             f'expected {MMCV_SHA256}')
        shutil.move(str(download / MMCV_SDIST), str(target))
    return target


def tree_bytes(repo: Path) -> int:
    """What travels besides the carried folder: the files git tracks or does not ignore."""
    names = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
                           cwd=repo, capture_output=True, check=True).stdout.split(b'\0')
    return sum((repo / n.decode()).stat().st_size for n in names
               if n and (repo / n.decode()).is_file())


def prepare(folder: Path, repo: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pip(*wheel_args(folder))
    fetch_mmcv_sdist(folder)
    carried = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    tree = tree_bytes(repo)
    print(f'[gpu_check] {folder}: {carried / MiB:.1f} MiB carried + {tree / MiB:.1f} MiB '
          f'working tree (limit {LIMIT // MiB} MiB): ' + ', '.join(sorted(os.listdir(folder))))
    if carried + tree > LIMIT:
        raise SystemExit('[gpu_check] too large to travel with the working tree')


class TorchvisionExt:
    """Stands in for ``mmcv._ext``: NMS and RoIAlign from torchvision (``roi_align`` with
    ``aligned`` is mmcv's; ``nms`` is mmcv's with ``offset=0``, mmdet's only use); any other
    op from mmcv's own. ``calls`` counts what it served."""

    def __init__(self, ext):
        self._ext, self.calls = ext, {}

    def _count(self, name):
        self.calls[name] = self.calls.get(name, 0) + 1

    def nms(self, bboxes, scores, iou_threshold, offset):
        import torchvision
        if offset != 0:
            raise ValueError(f'torchvision.ops.nms has no offset; mmcv was asked for {offset}')
        self._count('nms')
        return torchvision.ops.nms(bboxes, scores.to(bboxes.dtype), float(iou_threshold))

    def roi_align_forward(self, input, rois, output, argmax_y, argmax_x, aligned_height,
                          aligned_width, spatial_scale, sampling_ratio, pool_mode, aligned):
        import torchvision
        if pool_mode != 1:
            raise ValueError("torchvision's roi_align averages; mmcv was asked for max pooling")
        self._count('roi_align_forward')
        output.copy_(torchvision.ops.roi_align(input, rois.to(input.dtype),
                                               (aligned_height, aligned_width), spatial_scale,
                                               sampling_ratio, aligned))

    def roi_align_backward(self, grad_output, rois, argmax_y, argmax_x, grad_input,
                           aligned_height, aligned_width, spatial_scale, sampling_ratio,
                           pool_mode, aligned):
        import torch
        self._count('roi_align_backward')
        grad_input.copy_(torch.ops.torchvision._roi_align_backward(
            grad_output, rois.to(grad_output.dtype), spatial_scale, aligned_height,
            aligned_width, *grad_input.shape, sampling_ratio, aligned))

    def __getattr__(self, name):
        return getattr(self._ext, name)


def use_torchvision_ops() -> TorchvisionExt:
    """Points every loaded ``mmcv.ops`` module's ``ext_module`` at one ``TorchvisionExt``."""
    import mmcv.ops  # noqa: F401 (loads every op module and mmcv._ext)
    modules = [m for name, m in list(sys.modules.items())
               if name.startswith('mmcv.ops.') and hasattr(m, 'ext_module')]
    stand_in = TorchvisionExt(modules[0].ext_module)
    for module in modules:
        module.ext_module = stand_in
    return stand_in


def use_torchvision_ops_if_asked() -> None:
    """From ``sitecustomize``: only where the script asks and a GPU is there."""
    if os.environ.get(ASK) == '1':
        import torch
        if torch.cuda.is_available():
            use_torchvision_ops()


def inductor(out: Path, device: str = 'cuda', backend: str = 'inductor', size: int = 512) -> dict:
    """A CGD-ResNet-50 (paper placement) training step, eager and under ``torch.compile``
    (Inductor, its default backend), same weights and input: the loss and the gradients agree;
    each step's median time after the first (compiling) one."""
    import torch
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    import mmdet_cgd  # noqa: F401
    register_all_modules()
    cfg = dict(type='CGDResNet', depth=50, norm_eval=False, plugins=[
        dict(cfg=dict(type='CGD', inplace=True), position='before_norm1')])
    torch.manual_seed(0)
    eager, compiled_net = MODELS.build(cfg).to(device), MODELS.build(cfg).to(device)
    compiled_net.load_state_dict(eager.state_dict())
    eager.train()
    compiled_net.train()
    compiled = torch.compile(compiled_net, backend=backend)
    x = torch.randn(2, 3, size, size, device=device)
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)

    def step(net):
        net.zero_grad(set_to_none=True)
        loss = sum(o.float().mean() for o in net(x))
        loss.backward()
        sync()
        return loss.item()

    result = {}
    for name, net in (('eager', eager), ('inductor', compiled)):
        start = time.perf_counter()
        result[f'{name}_loss'] = step(net)
        result[f'{name}_first_step_s'] = time.perf_counter() - start
        seconds = []
        for _ in range(10):
            start = time.perf_counter()
            step(net)
            seconds.append(time.perf_counter() - start)
        result[f'{name}_step_ms'] = 1e3 * sorted(seconds)[len(seconds) // 2]
    # all gradients as one vector: a parameter whose gradient nearly cancels (CGD's bias2, ~1e-7)
    # differs by rounding alone far more, relative to itself (float64: 2e-11; float32: 1e-2)
    expected = torch.cat([p.grad.flatten() for p in eager.parameters()])
    got = torch.cat([p.grad.flatten() for p in compiled_net.parameters()])
    worst = ((got - expected).norm() / expected.norm()).item()
    result.update(relative_grad_error=worst, torch=torch.__version__, backend=backend,
                  device=torch.cuda.get_device_name() if x.is_cuda else device)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    if abs(result['eager_loss'] - result['inductor_loss']) > 1e-3 * abs(result['eager_loss']):
        raise SystemExit('eager and compiled losses differ')
    if worst > 1e-3:
        raise SystemExit(f'compiled gradients differ from eager: {worst:.2e} relative (L2)')
    return result


def main(argv):
    command, path = argv
    if command == 'prepare':
        prepare(Path(path).resolve(), Path(__file__).resolve().parents[1])
    elif command == 'inductor':
        inductor(Path(path))
    else:
        raise SystemExit(f'unknown command {command!r}: prepare DIR or inductor OUT.json')


if __name__ == '__main__':
    main(sys.argv[1:])

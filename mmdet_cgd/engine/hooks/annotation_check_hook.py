"""Check the annotations the Runner's datasets loaded, once per job, before the first step."""
from typing import Iterable, Optional

from mmengine.dist import broadcast_object_list, get_rank, is_distributed
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS

from mmdet_cgd.annotation_checks.loaded_annotations import check_loaded_annotations, leaf_datasets
from mmdet_cgd.utils.errors import AnnotationError


@HOOKS.register_module()
class AnnotationCheckHook(Hook):
    """Runs ``check_loaded_annotations`` on rank 0 over the data mmdet has already parsed
    (train and val datasets before training, the test dataset before testing).

    Every rank raises the same ``AnnotationError`` (a ``ValueError``) when it fails, so none is
    left waiting in a collective. ``image_sample`` image files per dataset are checked for
    existence.
    """
    priority = 'VERY_HIGH'

    def __init__(self, image_sample: int = 64, box_tolerance: float = 1.0):
        if not isinstance(image_sample, int) or image_sample < 1:
            raise ValueError(f'image_sample must be a positive int, got {image_sample!r}')
        self.image_sample, self.box_tolerance = image_sample, box_tolerance
        self.checked = set()

    def before_train(self, runner) -> None:
        loaders = [runner.train_dataloader]
        if runner.val_loop is not None:  # built by Runner.train() before this hook runs
            loaders.append(runner.val_dataloader)
        self.check_datasets(d.dataset for d in loaders)

    def before_val(self, runner) -> None:
        self.check_datasets([runner.val_dataloader.dataset])

    def before_test(self, runner) -> None:
        self.check_datasets([runner.test_dataloader.dataset])

    def check_datasets(self, datasets: Iterable) -> None:
        leaves = {id(leaf): leaf for d in datasets for leaf in leaf_datasets(d)
                  if id(leaf) not in self.checked}
        if not leaves:
            return  # checked already (validation repeats during training)
        self.checked.update(leaves)
        error: Optional[str] = None
        if get_rank() == 0:
            try:
                for leaf in leaves.values():
                    print_log(f'annotation check: {self.check_one(leaf)}', logger='current')
            except ValueError as e:
                error = str(e)
        if is_distributed():
            shared = [error]
            broadcast_object_list(shared, src=0)
            error = shared[0]
        if error is not None:
            raise AnnotationError(error)

    def check_one(self, dataset) -> str:
        if not hasattr(dataset, 'ann_file') or not hasattr(dataset, 'full_init'):
            return f'{type(dataset).__name__} is not a detection dataset: nothing checked'
        return check_loaded_annotations(dataset, self.image_sample, self.box_tolerance)

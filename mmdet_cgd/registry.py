"""The ``mmdet_cgd`` registry scope: one child of each mmdet registry, as OpenMMLab's downstream
projects have. A config read through ``mmdet_cgd::`` gets ``_scope_='mmdet_cgd'`` on its typed
dicts (mmengine's ``Config``), built in this scope's registries: a type resolves here, then in
mmdet's, then in mmengine's root. Our modules stay registered where they are (``CGD`` in
mmengine's root, the backbones in mmdet's ``MODELS``), so stock mmdet configs build them too.
"""
from mmdet import registry as mmdet_registry
from mmengine.registry import Registry

SCOPE = 'mmdet_cgd'


def child_of(parent: Registry, locations=('mmdet_cgd', )) -> Registry:
    """This scope's node under ``parent``. ``locations``: what mmengine imports on the node's first
    lookup, the modules of ours that register types of its kind (into mmengine's root or mmdet's
    registries, which the node reaches); the package itself for kinds we add none of."""
    return Registry(parent.name, parent=parent, scope=SCOPE, locations=list(locations))


RUNNERS = child_of(mmdet_registry.RUNNERS)
RUNNER_CONSTRUCTORS = child_of(mmdet_registry.RUNNER_CONSTRUCTORS)
LOOPS = child_of(mmdet_registry.LOOPS, ['mmdet_cgd.engine'])
HOOKS = child_of(mmdet_registry.HOOKS, ['mmdet_cgd.engine.hooks'])
DATASETS = child_of(mmdet_registry.DATASETS)
DATA_SAMPLERS = child_of(mmdet_registry.DATA_SAMPLERS)
TRANSFORMS = child_of(mmdet_registry.TRANSFORMS)
MODELS = child_of(mmdet_registry.MODELS, ['mmdet_cgd.models'])
MODEL_WRAPPERS = child_of(mmdet_registry.MODEL_WRAPPERS)
WEIGHT_INITIALIZERS = child_of(mmdet_registry.WEIGHT_INITIALIZERS, ['mmdet_cgd.models'])
OPTIMIZERS = child_of(mmdet_registry.OPTIMIZERS)
OPTIM_WRAPPERS = child_of(mmdet_registry.OPTIM_WRAPPERS)
OPTIM_WRAPPER_CONSTRUCTORS = child_of(mmdet_registry.OPTIM_WRAPPER_CONSTRUCTORS)
PARAM_SCHEDULERS = child_of(mmdet_registry.PARAM_SCHEDULERS)
METRICS = child_of(mmdet_registry.METRICS)
EVALUATOR = child_of(mmdet_registry.EVALUATOR)
TASK_UTILS = child_of(mmdet_registry.TASK_UTILS)
VISUALIZERS = child_of(mmdet_registry.VISUALIZERS)
VISBACKENDS = child_of(mmdet_registry.VISBACKENDS)
LOG_PROCESSORS = child_of(mmdet_registry.LOG_PROCESSORS)

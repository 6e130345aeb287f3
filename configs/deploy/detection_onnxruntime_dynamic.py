# mmdeploy 1.3.1: an mmdet detector to one ONNX file (batch and image size dynamic) that ONNX
# Runtime runs. Written from mmdeploy's documented keys: its own deploy configs are not in its
# wheel. Use: docs/deployment.md.
onnx_config = dict(
    type='onnx',
    export_params=True,
    keep_initializers_as_inputs=False,
    opset_version=11,
    save_file='end2end.onnx',
    input_names=['input'],
    output_names=['dets', 'labels'],
    input_shape=None,  # the model's test pipeline sizes the image
    # mmdeploy's graph optimiser is a C++ extension the PyPI wheel lacks
    optimize=False,
    dynamic_axes=dict(
        input={0: 'batch', 2: 'height', 3: 'width'},
        dets={0: 'batch', 1: 'num_dets'},
        labels={0: 'batch', 1: 'num_dets'}))
# The model's test_cfg wins where it sets score_thr, nms.iou_threshold and max_per_img (mmdeploy's
# heads read it first); pre_top_k and max_output_boxes_per_class (per class, after NMS) come
# from here, and cut what mmdet would keep where a detector has more candidates than they allow.
codebase_config = dict(
    type='mmdet',
    task='ObjectDetection',
    model_type='end2end',
    post_processing=dict(
        score_threshold=0.05,
        iou_threshold=0.5,
        max_output_boxes_per_class=200,
        pre_top_k=5000,
        keep_top_k=100,
        background_label_id=-1))
backend_config = dict(type='onnxruntime')

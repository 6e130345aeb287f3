from .feature_heatmap import DEFAULT_LAYER, heatmap_grid, layer_activation
from .tiles import labelled_grid, put_text, save_image

__all__ = ['DEFAULT_LAYER', 'heatmap_grid', 'labelled_grid', 'layer_activation', 'put_text',
           'save_image']

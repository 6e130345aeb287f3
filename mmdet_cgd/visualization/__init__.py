from .feature_heatmap import DEFAULT_LAYER, heatmap_grid, layer_activation
from .predictions import prediction_grid
from .tiles import save_image
from .training_curves import curve_points, plot_training_curves, read_scalars

__all__ = ['DEFAULT_LAYER', 'heatmap_grid', 'layer_activation', 'prediction_grid',
           'save_image', 'curve_points', 'plot_training_curves', 'read_scalars']

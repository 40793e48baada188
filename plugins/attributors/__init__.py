"""Built-in attributors: gradient, SmoothGrad, integrated gradients, occlusion."""

"""Groups of layer types that composites map rules onto (tuples, so ``isinstance`` works)."""

from __future__ import annotations

from torch import nn

from relscope.core.attribution.sum_layer import Sum

#: fully connected layers
Dense: tuple[type[nn.Module], ...] = (nn.Linear,)

#: convolutions, transposed ones included
Convolution: tuple[type[nn.Module], ...] = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
)

#: every layer that is linear in its input: the layers the LRP rules for "linear layers" handle
Linear: tuple[type[nn.Module], ...] = Dense + Convolution

#: element-wise activation functions
Activation: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.RReLU,
    nn.ELU,
    nn.CELU,
    nn.SELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Sigmoid,
    nn.Tanh,
    nn.Softplus,
    nn.Softsign,
    nn.Hardtanh,
    nn.Hardsigmoid,
    nn.Hardswish,
    nn.Tanhshrink,
    nn.Softshrink,
    nn.Hardshrink,
    nn.LogSigmoid,
    nn.Threshold,
)

#: average pooling, adaptive included
AvgPool: tuple[type[nn.Module], ...] = (
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
)

#: max pooling, adaptive included (keeps its gradient: winner takes all)
MaxPool: tuple[type[nn.Module], ...] = (
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
)

#: batch normalisation (becomes element-wise once merged or in eval mode)
BatchNorm: tuple[type[nn.Module], ...] = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)

#: explicit sums of stacked summands (residual additions after canonizing)
Summation: tuple[type[nn.Module], ...] = (Sum,)

#: layers that only reshape or copy values (they keep their gradient)
Reshape: tuple[type[nn.Module], ...] = (nn.Flatten, nn.Unflatten, nn.Identity)

#: layers that are the identity in eval mode
Dropout: tuple[type[nn.Module], ...] = (
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)

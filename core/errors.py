"""Exception families of relscope; the CLI turns each into one line and exit code 2."""

from __future__ import annotations


class RelscopeError(Exception):
    """Base of every error relscope raises on purpose (bad input, bad configuration)."""


class PluginError(RelscopeError):
    """A plugin failed to load, failed validation, or failed inside a hook (strict mode)."""


class PluginConflictError(PluginError):
    """Two plugins registered the same name in one registry."""


class UnknownNameError(RelscopeError, KeyError):
    """A name was looked up in a registry that does not hold it."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ColorMapError(RelscopeError, ValueError):
    """A colour-map spec (or a LUT given instead) is malformed: bad hex, positions, too few colours."""


class HeatmapError(RelscopeError, ValueError):
    """An attribution, image or PNG cannot be turned into (or read back as) a heatmap."""


class PanelError(RelscopeError, ValueError):
    """A viewer panel is malformed: bad name, unknown region, asset names outside its folder."""


class ExplorerError(RelscopeError):
    """The explorer cannot start: bad project set, duplicate project names, missing token, ..."""


class DataFormatError(RelscopeError):
    """A data file (inputs, attributions, label map, project) is missing, unreadable or malformed."""


class DataSourceError(DataFormatError):
    """A ``--data`` specification names no usable data source (unknown scheme, empty folder)."""


class ResumeError(RelscopeError):
    """A partial run cannot be resumed: it was started with a different configuration."""


class AnalysisFileError(DataFormatError):
    """An analysis HDF5 file is missing, unreadable, or does not follow the analysis layout."""


class ProcessorError(RelscopeError, ValueError):
    """An analysis processor got a bad parameter, a bad input, or cannot run (missing package)."""


class CacheError(RelscopeError):
    """The analysis cache cannot store a value or cannot be opened."""


class AttributionError(RelscopeError):
    """An attribution cannot be computed as asked (bad target, bad input, unsupported model)."""


class RuleConfigurationError(AttributionError, ValueError):
    """A rule or composite got parameters that make no sense (alpha - beta != 1, missing bounds)."""


class CanonizerError(AttributionError, ValueError):
    """A canonizer cannot rewrite a model (untraceable forward, layer it cannot handle yet)."""


class UnsupportedModelError(CanonizerError):
    """A model holds a layer or operation that no canonizer supports yet (named in the message)."""


class AnalyzeError(RelscopeError):
    """Bad ``relscope analyze`` arguments: range syntax, unknown category, task or project."""


class ModelLoadError(RelscopeError):
    """A model specification (torchvision:<name>, pkg.mod:factory, TorchScript file, weights) fails."""


class AttributeUsageError(RelscopeError):
    """A ``relscope attribute`` / ``project`` option has a value that cannot be used."""


class DistributedError(RelscopeError):
    """A distributed run cannot start or finish: no torchrun environment, Dask missing or
    unreachable, a rank or worker that failed."""


class ParameterError(RelscopeError, ValueError):
    """A registered object was given a parameter it does not accept, or a value it refuses."""

"""Processors, pipelines, Parallel and Sequential: params, wiring, outputs and errors."""

from __future__ import annotations

import threading
import time

import attrs
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from relscope.core.analysis import (
    Parallel,
    Param,
    Pipeline,
    Processor,
    Sequential,
    Task,
    at_least,
    get_processor,
    processor,
)
from relscope.core.errors import ProcessorError, UnknownNameError
from relscope.plugins.processors.clusterings import KMeans
from relscope.plugins.processors.reduction import PCA
from relscope.plugins.processors.spray import Spray


@pytest.fixture(autouse=True)
def _one_thread():
    """BLAS/OpenMP on one thread: on a busy shared machine extra threads only spin."""
    with threadpool_limits(1):
        yield


@processor
class Scale(Processor):
    """Multiply by ``factor``."""

    factor: float = Param(float, 2.0, check=at_least(0))
    label: str = Param(str, "x", identifying=False)

    def function(self, data):
        return np.asarray(data) * self.factor


@processor
class Offset(Processor):
    """Add ``amount``."""

    amount: float = attrs.field(default=1.0, metadata={"identifying": False})

    def function(self, data):
        return np.asarray(data) + self.amount


@processor
class ScaleThenOffset(Pipeline):
    factor: float = Param(float, 3.0)
    scale: Processor = Task(lambda p: Scale(p.factor))
    offset: Processor = Task(Offset, output=True)
    side: Processor = Task(Scale, input="input", output=True)


def test_params_are_typed_and_validated_with_messages_naming_class_and_param():
    assert Scale(3).factor == 3.0 and isinstance(Scale(3).factor, float)  # int -> float
    with pytest.raises(ProcessorError, match=r"Scale: parameter 'factor' must be float, got 'a'"):
        Scale("a")
    with pytest.raises(ProcessorError, match=r"Scale: parameter 'factor' must be >= 0, got -1"):
        Scale(-1)
    with pytest.raises(ProcessorError, match=r"KMeans: parameter 'n_clusters' must be int"):
        KMeans(True)
    scale = Scale()
    with pytest.raises(ProcessorError, match="must be >= 0"):
        scale.set_params(factor=-2)  # validated on assignment too
    with pytest.raises(ProcessorError, match=r"unknown parameter 'nope'"):
        scale.set_params(nope=1)


def test_repr_shows_only_changed_params_and_params_split_by_identity():
    assert repr(Scale()) == "Scale()"
    assert repr(Scale(4, label="y")) == "Scale(factor=4.0, label='y')"
    assert repr(KMeans(3)) == "KMeans(n_clusters=3)"
    assert Scale(4, label="y").get_params() == {"factor": 4.0, "label": "y"}
    assert Scale(4, label="y").identifying_params() == {"factor": 4.0}
    assert Offset(5.0).identifying_params() == {}
    assert Scale(4).cache_key("abc") == Scale(4, label="z").cache_key("abc")
    assert Scale(4).cache_key("abc") != Scale(5).cache_key("abc")
    assert Scale(4).cache_key("abc") != Scale(4).cache_key("abd")


def test_bumping_cache_version_changes_the_key(monkeypatch):
    before = Scale(4).cache_key("abc")
    monkeypatch.setattr(Scale, "cache_version", 2)
    assert Scale(4).cache_key("abc") != before


def test_pipeline_wires_tasks_and_returns_declared_outputs():
    data = np.array([1.0, 2.0])
    out = ScaleThenOffset()(data)
    assert list(out) == ["offset", "side"]
    np.testing.assert_array_equal(out["offset"], [4.0, 7.0])  # 3x + 1
    np.testing.assert_array_equal(out["side"], [2.0, 4.0])  # default Scale(2) on the input


def test_tasks_are_replaced_by_keyword_with_instances_classes_or_registered_names():
    data = np.array([1.0, 2.0])
    replaced = ScaleThenOffset(factor=10.0, offset=Offset(0.5, is_output=True))
    np.testing.assert_array_equal(replaced(data)["offset"], [10.5, 20.5])
    assert "offset=Offset(amount=0.5" in repr(replaced)
    by_name = Spray(reduce="random_projection")
    assert type(by_name.reduce).__name__ == "RandomProjection"
    with pytest.raises(UnknownNameError, match="unknown processor 'no_such_step'.*kmeans"):
        Spray(reduce="no_such_step")
    with pytest.raises(ProcessorError, match="expected a Processor"):
        Spray(reduce=3)


def test_is_output_on_a_processor_adds_an_intermediate_output():
    out = ScaleThenOffset(scale=Scale(3.0, is_output=True))(np.array([1.0]))
    assert list(out) == ["scale", "offset", "side"]
    np.testing.assert_array_equal(out["scale"], [3.0])


def test_pipeline_rejects_a_task_reading_a_later_task():
    @processor
    class Broken(Pipeline):
        first: Processor = Task(Scale, input="second")
        second: Processor = Task(Offset)

    with pytest.raises(ProcessorError, match="task 'first' reads 'second'"):
        Broken()(np.ones(2))


def test_sequential_chains_and_parallel_fans_out():
    chain = Sequential([Scale(2.0), Offset(1.0), "absolute"])
    np.testing.assert_array_equal(chain(np.array([-3.0, 1.0])), [5.0, 3.0])

    fan = Parallel({"a": Scale(2.0), "b": Offset(1.0)}, broadcast=True)
    out = fan(np.array([1.0]))
    assert list(out) == ["a", "b"] and out["a"][0] == 2.0 and out["b"][0] == 2.0

    zipped = Parallel([Scale(2.0), Offset(1.0)])  # one input per child, tuple out
    a, b = zipped((np.array([1.0]), np.array([5.0])))
    assert a[0] == 2.0 and b[0] == 6.0
    with pytest.raises(ProcessorError, match="one item per child"):
        zipped(np.array([1.0, 2.0, 3.0]))
    by_key = Parallel({"a": Scale(2.0), "b": Offset(1.0)})({"b": np.ones(1), "a": np.ones(1)})
    assert by_key["a"][0] == 2.0 and by_key["b"][0] == 2.0


def test_parallel_runs_children_concurrently_in_threads():
    active, peak = [0], [0]
    lock = threading.Lock()

    @processor
    class Slow(Processor):
        def function(self, data):
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            time.sleep(0.2)
            with lock:
                active[0] -= 1
            return data

    Parallel([Slow(), Slow(), Slow()], broadcast=True, n_jobs=3)(np.ones(2))
    assert peak[0] == 3
    peak[0] = 0
    Parallel([Slow(), Slow()], broadcast=True)(np.ones(2))
    assert peak[0] == 1


def test_registry_names_give_fresh_configured_processors():
    kmeans = get_processor("kmeans", n_clusters=4)
    assert isinstance(kmeans, KMeans) and kmeans.n_clusters == 4
    assert get_processor("pca") is not get_processor("pca")
    assert isinstance(get_processor("spray"), Spray)
    assert Spray.task_names() == [
        "preprocess",
        "reduce",
        "knn",
        "affinity",
        "laplacian",
        "spectral",
        "clustering",
        "views",
        "pca",
    ]
    assert (
        isinstance(Spray(n_components=8).reduce, PCA)
        and Spray(n_components=8).reduce.n_components == 8
    )

"""One way to get a plugin object: ``registry.create`` binds parameters against the signature and
names the accepted ones; ``[]``/``get`` give objects, ``entry`` gives provenance; every entry lists
its parameters; repr echoes what differs from the defaults."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from relscope.core.analysis import Processor
from relscope.core.errors import (
    AttributionError,
    ProcessorError,
    RuleConfigurationError,
    UnknownNameError,
)
from relscope.core.registry import get_registry
from tests.conftest import run_relscope


def test_mapping_semantics_give_objects_and_entry_gives_provenance() -> None:
    attributors = get_registry("attributors")
    smoothgrad = attributors["smoothgrad"]
    assert attributors.get("smoothgrad") is smoothgrad is attributors.entry("smoothgrad").obj
    assert attributors.get("nope", 7) == 7 and "nope" not in attributors
    assert attributors.entry("smoothgrad").distribution == "relscope"
    with pytest.raises(UnknownNameError, match=r"unknown attributor 'nope'; known: .*smoothgrad"):
        attributors["nope"]
    assert sorted(attributors) == [entry.name for entry in attributors.entries()]


def test_create_binds_parameters_and_names_the_accepted_ones() -> None:
    attributors = get_registry("attributors")
    model = nn.Linear(3, 2)
    made = attributors.create("smoothgrad", model=model, n_iter=3)
    assert made.n_iter == 3 and made.noise_level == 0.1
    with pytest.raises(
        RuleConfigurationError,
        match=r"attributor 'smoothgrad': .*'noise'.*it accepts: noise_level, n_iter, seed",
    ):
        attributors.create("smoothgrad", model=model, noise=0.2)
    with pytest.raises(AttributionError, match="n_iter must be an int >= 1, got 0"):
        attributors.create("smoothgrad", model=model, n_iter=0)
    composites = get_registry("composites")
    instance = composites.create("epsilon_plus", epsilon=0.5)
    assert composites.create(instance) is instance
    with pytest.raises(RuleConfigurationError, match="is an instance and takes no parameters"):
        composites.create(instance, epsilon=0.1)


def test_a_processor_instance_is_remade_with_new_parameters() -> None:
    processors = get_registry("processors")
    kmeans = processors.create("kmeans", n_clusters=3)
    remade = processors.create(kmeans, n_clusters=5)
    assert isinstance(remade, Processor) and (kmeans.n_clusters, remade.n_clusters) == (3, 5)
    assert type(remade) is type(kmeans)
    with pytest.raises(ProcessorError, match="it accepts: .*n_clusters"):
        processors.create("kmeans", clusters=4)


def test_repr_echoes_the_parameters_that_differ_from_their_defaults() -> None:
    attributors = get_registry("attributors")
    model = nn.Linear(3, 2)
    assert repr(attributors.create("smoothgrad", model=model)) == "SmoothGrad()"
    assert repr(attributors.create("smoothgrad", model=model, n_iter=5, seed=1)) == (
        "SmoothGrad(n_iter=5, seed=1)"
    )
    ig = attributors.create("integrated_gradients", model=model, n_steps=4)
    assert repr(ig) == "IntegratedGradients(n_steps=4)"
    # a tensor parameter (no plain truth value for !=) is echoed, not compared into an error
    assert "baseline=" in repr(
        attributors.create("integrated_gradients", model=model, baseline=torch.ones(3))
    )


def test_list_json_prints_each_entrys_parameters_with_types_and_defaults() -> None:
    done = run_relscope("list", "attributors", "--json")
    assert done.returncode == 0, done.stderr
    listed = {entry["name"]: entry for entry in json.loads(done.stdout)}
    smoothgrad = {p["name"]: p for p in listed["smoothgrad"]["parameters"]}
    assert smoothgrad["noise_level"] == {
        "name": "noise_level",
        "type": "float",
        "default": 0.1,
        "required": False,
    }
    assert smoothgrad["n_iter"]["default"] == 20 and smoothgrad["n_iter"]["type"] == "int"
    assert "model" not in smoothgrad and "composite" not in smoothgrad
    done = run_relscope("list", "composites", "--json")
    composites = {entry["name"]: entry for entry in json.loads(done.stdout)}
    box = {p["name"]: p for p in composites["epsilon_gamma_box"]["parameters"]}
    assert box["gamma"]["default"] == 0.25
    processors = json.loads(run_relscope("list", "processors", "--json").stdout)
    kmeans = next(e for e in processors if e["name"] == "kmeans")
    assert "n_clusters" in {p["name"] for p in kmeans["parameters"]}

"""One save format for every model: ``config.json`` + ``model.safetensors`` in a folder.

Loading rebuilds the module from its config and loads weights; it never unpickles code
(diffusers' config-as-constructor habit, STYLE.md §1).
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import torch

T = TypeVar("T", bound="Pretrained")


def config_to_dict(config: Any) -> dict:
    if dataclasses.is_dataclass(config):
        return dataclasses.asdict(config)
    raise TypeError(f"config must be a dataclass, got {type(config).__name__}")


RETIRED_KEY = "retired_fields"


def config_from_dict(cls: type, data: dict) -> Any:
    """Build dataclass ``cls`` from ``data``, recursing into fields whose type is a dataclass
    or ``Dataclass | None``, and refusing unknown keys (a typo in a config file must not pass
    silently). Keys that ``cls.retired_fields`` lists (a tuple class attribute: fields an older
    kinema wrote, such as a model config's ``lr`` before the rate moved to the train config)
    are read and dropped, so saved models keep loading."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    retired = set(getattr(cls, RETIRED_KEY, ())) - set(fields)
    unknown = set(data) - set(fields) - retired
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s): {sorted(unknown)}")
    kwargs = {}
    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        if name in retired:
            continue
        nested = _dataclass_of(hints.get(name))
        if nested is not None and isinstance(value, dict):
            value = config_from_dict(nested, value)
        elif isinstance(value, list) and isinstance(getattr(cls, name, None), tuple):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def _dataclass_of(hint: Any) -> type | None:
    """The dataclass a field's type names: ``X`` or ``X | None`` (``Optional[X]``); else None."""
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        classes = [a for a in typing.get_args(hint)
                   if isinstance(a, type) and dataclasses.is_dataclass(a)]
        if len(classes) == 1:
            return classes[0]
    return None


class Pretrained:
    """Mixin for ``nn.Module`` subclasses whose constructor takes one dataclass config.

    Subclasses set ``config_class`` and store ``self.config``.
    """

    config_class: type
    config: Any

    def save_pretrained(self, path: str | os.PathLike) -> Path:
        """Write ``config.json`` and ``model.safetensors`` atomically into folder ``path``."""
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            from kinema.data.io import set_default_mode
            set_default_mode(tmp)   # mkdtemp's folder is private (0700); a model is for sharing
            meta = {"class": f"{type(self).__module__}:{type(self).__qualname__}",
                    "config": config_to_dict(self.config)}
            if getattr(self, "built_from", None):   # kinema.stages.record_sources
                meta["built_from"] = self.built_from
            (tmp / "config.json").write_text(json.dumps(meta, indent=2))
            state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
            save_file(_untie(state), str(tmp / "model.safetensors"))
            set_default_mode(tmp / "model.safetensors")   # safetensors writes it private (0600)
            if path.exists():
                old = path.with_name(f".{path.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                os.replace(path, old)
                os.replace(tmp, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return path

    @classmethod
    def from_pretrained(cls: type[T], path: str | os.PathLike, map_location: str = "cpu") -> T:
        """Rebuild the model from ``config.json`` and load ``model.safetensors``. Everything is
        checked before a tensor is built, and every problem is one ``KinemaError`` naming the
        file: config.json must be a JSON object naming this class and known, valid fields; the
        weights a readable safetensors file whose keys and shapes are the model's, all finite."""
        from kinema.errors import KinemaError, NotAModelFolder

        folder = model_folder(Path(path))
        weights = folder / "model.safetensors"
        if not weights.is_file():
            raise NotAModelFolder(f"{weights} is missing: a kinema model folder holds config.json "
                                  f"and model.safetensors (written by save_pretrained or `kinema train`)")
        meta = read_meta(folder)
        saved = meta["class"].rpartition(":")[2]
        if saved != cls.__qualname__:      # compared by name: a module may move between versions
            raise KinemaError(f"{folder} holds a {meta['class']} model, not a {cls.__qualname__} "
                              f"(its config.json names the class)")
        try:
            config = config_from_dict(cls.config_class, meta["config"])
        except (TypeError, ValueError) as err:
            raise KinemaError(f"{folder / 'config.json'}: {err}") from None
        from kinema.validate import check_config
        try:
            check_config(config, "config")
        except KinemaError as err:
            raise KinemaError(f"{folder / 'config.json'}: {err}") from None
        try:
            model = cls(config)  # type: ignore[call-arg]
        except (TypeError, ValueError, RuntimeError) as err:
            raise KinemaError(f"{folder / 'config.json'}: its config cannot build a "
                              f"{cls.__name__} ({err})") from None
        state = read_weights(weights, model.state_dict(), map_location)  # type: ignore[attr-defined]
        model.load_state_dict(state)  # type: ignore[attr-defined]
        if meta.get("built_from"):
            model.built_from = meta["built_from"]
        return model


def read_meta(folder: Path) -> dict:
    """config.json of a model folder, checked to be ``{"class": "module:Class", "config": {...}}``."""
    from kinema.errors import KinemaError

    file = Path(folder) / "config.json"
    from kinema.safe_parse import load_json
    from kinema.validate import short_repr

    try:
        text = file.read_text()
    except UnicodeDecodeError:
        raise KinemaError(f"{file} is not a text file (a kinema config.json is JSON)") from None
    meta = load_json(text, str(file))
    if not isinstance(meta, dict):
        raise KinemaError(f"{file} must hold a JSON object with 'class' and 'config', "
                          f"not a {type(meta).__name__}")
    if not isinstance(meta.get("class"), str) or ":" not in meta["class"]:
        raise KinemaError(f"{file}: 'class' must name the model as 'module:Class', got {short_repr(meta.get('class'))}")
    if not isinstance(meta.get("config"), dict):
        raise KinemaError(f"{file}: 'config' must be a JSON object of the model's fields")
    return meta


def read_weights(file: Path, expected: dict[str, torch.Tensor], map_location: str = "cpu"
                 ) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, checked against the model's state dict ``expected``
    (same keys, same shapes) and for finiteness."""
    from safetensors import SafetensorError, safe_open

    from kinema.errors import KinemaError

    try:
        with safe_open(str(file), framework="pt", device=map_location) as handle:
            keys = set(handle.keys())
            missing, unexpected = sorted(set(expected) - keys), sorted(keys - set(expected))
            if missing or unexpected:
                raise KinemaError(
                    f"{file} does not hold this model's weights (weights of another stage or "
                    f"config?): {len(missing)} missing key(s) {missing[:3]}, "
                    f"{len(unexpected)} unexpected {unexpected[:3]}")
            state = {}
            for key in expected:
                shape = tuple(handle.get_slice(key).get_shape())
                if shape != tuple(expected[key].shape):
                    raise KinemaError(f"{file}: {key} has shape {shape}, the config.json beside "
                                      f"it builds {tuple(expected[key].shape)}")
                state[key] = handle.get_tensor(key)
    except (SafetensorError, OSError, ValueError) as err:
        raise KinemaError(f"{file} is not a readable safetensors file ({err})") from None
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise KinemaError(f"{file} holds non-finite weights (NaN or inf) in {len(bad)} tensor(s), "
                          f"e.g. {bad[0]}: the run that wrote it diverged")
    return state


def model_folder(path: str | os.PathLike) -> Path:
    """A saved model folder (``config.json``), or the ``model/`` a finished training run wrote
    inside the run folder ``path``: both are accepted wherever a model is read."""
    from kinema.errors import NotAModelFolder

    path = Path(path)
    for folder in (path, path / "model"):
        if (folder / "config.json").is_file():
            return folder
    raise NotAModelFolder(f"{path} is not a model folder: no config.json in it or in {path / 'model'} "
                      f"(a training run writes model/ when it finishes)")


def read_model_class(folder: str | os.PathLike) -> str:
    """The ``module:Class`` a model folder's ``config.json`` names."""
    return read_meta(Path(folder))["class"]


def load_pretrained(path: str | os.PathLike, map_location: str = "cpu"):
    """Load any kinema model folder (or the run folder holding it), resolving its class from
    ``config.json``. Only classes inside the ``kinema`` package, or the model class of a
    registered method (a user's own, ``kinema.registry.register_method``), are accepted."""
    import importlib

    from kinema.registry import entry_for_class

    from kinema.errors import KinemaError

    folder = model_folder(path)
    target = read_model_class(folder)
    module, _, qualname = target.partition(":")
    if not module.startswith("kinema.") and entry_for_class(target) is None:
        raise KinemaError(f"{folder / 'config.json'}: refusing to load class {target!r} outside "
                          f"kinema (only kinema's and registered methods' models are loaded)")
    try:
        cls = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
    except (ImportError, AttributeError):
        raise KinemaError(f"{folder / 'config.json'} names the class {target!r}, which does not "
                          f"exist in this kinema") from None
    if not (isinstance(cls, type) and issubclass(cls, Pretrained) and cls is not Pretrained
            and isinstance(getattr(cls, "config_class", None), type)):
        raise KinemaError(f"{folder / 'config.json'} names {target!r}, which is not a kinema model")
    return cls.from_pretrained(folder, map_location=map_location)


def _untie(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses tensors that share storage; clone the duplicates."""
    seen: set[int] = set()
    out = {}
    for k, v in state.items():
        ptr = v.untyped_storage().data_ptr() if v.numel() else id(v)
        out[k] = v.clone() if ptr in seen else v
        seen.add(ptr)
    return out

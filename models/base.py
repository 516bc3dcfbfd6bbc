"""What makes every model family a Keras model: ``fit`` / ``evaluate`` on the objective, serialisation,
``summary``, and the small public API shared by all families.

Every model class derives from :class:`HVAEModel` (``keras.Model`` plus :class:`hvae.models.latent.LatentVariableModel`)
and implements

    loss_terms(images, labels=None, iteration=None, training=True) -> dict of scalars with "loss"
    build_all() -> self                        create every weight (one forward pass on a small batch)
    example_inputs(n) -> (images, labels)      a batch of the model's input shape, for build_all and summary
    get_config() -> dict                        the constructor's arguments (JSON-able)

Then, as the Keras VAE example does it (a subclassed model with ``train_step`` and ``keras.metrics.Mean``
trackers), ``model.compile(optimizer=...)``, ``model.fit(dataset)`` and ``model.evaluate(dataset)`` work on any
``tf.data`` pipeline of ``images`` or ``(images, labels)`` batches (``hvae.datasets.load(...).batches(...)``); the
objective is the same ``loss_terms`` the command line's trainer minimises (one objective, written once), its
schedules (KL warm-up, free bits, beta annealing) driven by ``optimizer.iterations + 1``. Under a
``tf.distribute`` strategy the loss is divided by the number of replicas, as Keras' own ``compute_loss`` does,
since the optimizer sums the replicas' gradients.

``model.save("x.keras")`` / ``keras.models.load_model("x.keras")`` round-trip the architecture (``get_config``,
classes registered with ``keras.saving.register_keras_serializable(package="hvae")``), every weight and
batch-norm statistic and the objective's settings. ``model.summary()`` lists each block with its output shape,
recorded from a real forward pass (Keras shows ``?`` for the blocks of a subclassed model).
"""

from __future__ import annotations

import functools
import inspect
import threading
from typing import ClassVar

import keras
import numpy as np
import tensorflow as tf

from hvae.configs.base import ModelConfig, preset, preset_names, register_presets, setting  # noqa: F401  (the typed configs, re-exported where the models were)

from .latent import LatentVariableModel


def _unpack(data):
    """``images`` or ``(images, labels)`` (or Keras' ``(x, y, sample_weight)``) -> ``(images, labels or None)``."""
    if isinstance(data, (tuple, list)):
        images = data[0]
        labels = data[1] if len(data) > 1 else None
        return images, labels
    return data, None


def config_property(name: str, doc: str | None = None) -> property:
    """A read-only model attribute that is ``model.config.<name>`` (``image_shape = config_property("image_shape")``
    in a model class)."""
    return property(lambda self: getattr(self.config, name), doc=doc or f"``config.{name}`` (read-only).")


_MODEL_CLASSES: dict = {}   # config class -> model class


def register(config_class):
    """Class decorator of a model class: binds it to its config class (``Model.config_class``; :func:`build`
    finds the model of a config through it) and registers it with Keras under the package ``hvae``, so that
    ``keras.models.load_model`` finds it once :mod:`models` is imported."""

    def wrap(cls):
        cls.config_class = config_class
        _MODEL_CLASSES[config_class] = cls
        return keras.saving.register_keras_serializable(package="hvae")(cls)

    return wrap


def model_class(config) -> type:
    """The model class registered for ``config``'s class (or the nearest registered base class).

    Raises:
        TypeError: ``config`` is not a registered :class:`ModelConfig`.
    """
    for klass in type(config).__mro__:
        if klass in _MODEL_CLASSES:
            return _MODEL_CLASSES[klass]
    raise TypeError(f"no model is registered for {type(config).__name__}")


def build(config, **overrides):
    """The model of ``config`` (with ``overrides`` applied), every weight created (``build_all``)."""
    if overrides:
        config = config.replace(**overrides)
    return model_class(config)(config).build_all()



# ---- input checks at the public entry points ------------------------------------------------------------------------
# The methods whose first argument is a batch of images: checked once per outer call, on the host (shapes and dtypes
# always; values only for concrete arrays, never inside a traced graph), so a wrong input is one ValueError that says
# what was expected instead of an error from deep inside TensorFlow.
CHECKED_METHODS = ("encode", "loss_terms", "reconstruct", "posterior_means", "importance_terms",
                   "importance_proposal", "log_importance_weights")
_CHECKING = threading.local()


def _concrete_values(x):
    """``x`` as a NumPy array when its values are at hand (NumPy array, list, eager tensor), else None (a symbolic
    tensor being traced)."""
    if isinstance(x, np.ndarray):
        return x
    if tf.is_tensor(x):
        return x.numpy() if hasattr(x, "numpy") and tf.executing_eagerly() else None
    return np.asarray(x)


def _checking_inputs(method):
    """``method`` (first argument: images) wrapped with :meth:`HVAEModel.check_inputs`; nested checked calls (a
    ``loss_terms`` that calls ``encode``) check only at the outermost one."""
    signature = inspect.signature(method)

    @functools.wraps(method)
    def checked(self, *args, **kwargs):
        if getattr(_CHECKING, "depth", 0):
            return method(self, *args, **kwargs)
        bound = signature.bind(self, *args, **kwargs).arguments
        self.check_inputs(bound.get("images"), bound.get("labels"), num_samples=bound.get("num_samples"),
                          where=f"{type(self).__name__}.{method.__name__}")
        _CHECKING.depth = 1
        try:
            return method(self, *args, **kwargs)
        finally:
            _CHECKING.depth = 0

    checked.checks_inputs = True
    return checked


class HVAEModel(LatentVariableModel, keras.Model):
    """Base of every model family (see the module docstring): ``Model(config)`` with ``config`` an instance of the
    family's :class:`ModelConfig` subclass (``Model.config_class``; None: its defaults) and Keras' own keywords
    (``name``).

    The interface every family answers with one signature (images ``(B, H, W, C)`` in the model's value range,
    labels ``(B,)`` int class indices, used only by conditional models):

    - ``encode(images, labels=None, training=False)`` -> list of ``tfd.Distribution``, one per latent layer,
      bottom to top: the approximate posterior q(z_l | x, ...) of one inference pass (for top-down posteriors,
      each layer's given the layers above at their posterior means);
    - ``decode(codes, labels=None)`` -> ``tfd.Distribution`` over images: the likelihood p(x | z) at ``codes``
      (a list, bottom to top, of ``(B, units_l)`` or the layer's own shape);
    - ``sample(n, labels=None, seed=None)`` -> ``(n, H, W, C)`` images from the prior, in the value range;
    - ``reconstruct(images, labels=None)`` -> ``(B, H, W, C)``: the likelihood's mean at the posterior means;
    - ``loss_terms(images, labels=None, iteration=None, training=True)`` -> dict of scalars with ``loss``;
    - ``log_importance_weights(images, num_samples, labels=None)`` -> ``(B, K)`` nats (:mod:`hvae.models.latent`).
    """

    config_class: ClassVar[type] = None
    # models.latent's shared implementation, checked like every family's own entry points
    log_importance_weights = _checking_inputs(LatentVariableModel.log_importance_weights)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in CHECKED_METHODS:  # every family's own entry points check their inputs
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "checks_inputs", False):
                setattr(cls, name, _checking_inputs(method))

    def __init__(self, config=None, **kwargs):
        config_class = type(self).config_class
        if config is None and config_class is not None:
            config = config_class()
        if config_class is not None and not isinstance(config, config_class):
            raise TypeError(f"{type(self).__name__} takes a {config_class.__name__}, not {type(config).__name__}")
        super().__init__(**kwargs)
        if config_class is not None:
            self.config = config

    # ---- what a family implements -------------------------------------------------------------------
    def loss_terms(self, images, labels=None, iteration=None, training=True) -> dict:
        raise NotImplementedError

    def encode(self, images, labels=None, training=False) -> list:
        """q(z_l | x) per latent layer, bottom to top (see the class docstring)."""
        raise NotImplementedError

    def decode(self, codes, labels=None):
        """The likelihood p(x | z) at ``codes`` (see the class docstring)."""
        raise NotImplementedError

    def sample(self, n: int, labels=None, seed=None):
        """``n`` images from the prior, in the model's value range."""
        raise NotImplementedError

    def reconstruct(self, images, labels=None):
        """The likelihood's mean at the posterior means, in the model's value range."""
        raise NotImplementedError

    def build_all(self):
        """Create every weight (one forward pass on :meth:`example_inputs`). Returns self."""
        raise NotImplementedError

    def example_inputs(self, n: int = 2):
        """``(images (n, H, W, C) zeros in the model's value range, labels (n,) or None)``."""
        raise NotImplementedError

    # ---- configs, presets, Keras building and saving ----------------------------------------------------
    @classmethod
    def from_preset(cls, name: str, **overrides):
        """The preset ``name`` (:func:`hvae.models.preset_names`) with ``overrides`` of its settings, built.

        Raises:
            ValueError: unknown preset, a preset of another model class, an unknown setting or an invalid value.
        """
        config = preset(name)
        if not issubclass(model_class(config), cls):
            raise ValueError(f"preset {name!r} builds a {model_class(config).__name__}, not a {cls.__name__}")
        return build(config, **overrides)

    def get_config(self) -> dict:
        """The config's fields (:meth:`ModelConfig.to_dict`) and the model's ``name``."""
        return {**self.config.to_dict(), "name": self.name}

    @classmethod
    def migrate_config(cls, config: dict) -> dict:
        """A ``get_config`` dict written by an earlier version (``.keras`` files) -> this version's fields.
        The default changes nothing; a family whose settings were renamed overrides it."""
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        name = config.pop("name", None)
        for key in ("trainable", "dtype"):
            config.pop(key, None)
        config = cls.migrate_config(config)
        return cls(cls.config_class.from_dict(config), **({"name": name} if name else {}))

    def get_build_config(self):
        return {"built_by": "build_all"}

    def build_from_config(self, config):
        """Rebuild every weight on load (``keras.models.load_model``) before the weights are read."""
        self.build_all()

    # ---- fit / evaluate ------------------------------------------------------------------------------------
    def _trackers(self) -> dict:
        """One ``keras.metrics.Mean`` per loss term (names from one eager call of ``loss_terms``)."""
        trackers = self.__dict__.get("_term_trackers")
        if trackers is None:
            if not self.built:
                self.build_all()
            images, labels = self.example_inputs(2)
            names = list(self.loss_terms(images, labels, iteration=tf.constant(1, tf.int64), training=False))
            trackers = {name: keras.metrics.Mean(name=name) for name in names}
            object.__setattr__(self, "_term_trackers", trackers)  # not tracked: metrics are not weights
        return trackers

    @property
    def metrics(self):
        """One ``keras.metrics.Mean`` per loss term; created (eagerly) the first time Keras asks for them, so
        ``compile(optimizer=...)`` needs no ``loss`` argument: the objective is the model's own."""
        if not self.__dict__.get("_term_trackers") and tf.executing_eagerly():
            self._trackers()
        trackers = self.__dict__.get("_term_trackers") or {}
        return list(trackers.values())

    def _iteration(self):
        return tf.cast(self.optimizer.iterations, tf.int64) + 1

    def _record(self, terms: dict) -> dict:
        trackers = self._trackers()
        for name, value in terms.items():
            if name in trackers:
                trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in trackers.items()}

    def train_step(self, data):
        """One optimiser step on ``loss_terms(..., training=True)["loss"]``; returns every term's running mean."""
        images, labels = _unpack(data)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            terms = self.loss_terms(images, labels, iteration=self._iteration(), training=True)
            loss = terms["loss"] / replicas
        grads = tape.gradient(loss, self.trainable_variables)
        grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, self.trainable_variables)]
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return self._record(terms)

    def test_step(self, data):
        """Every loss term in inference mode (moving batch-norm statistics), at the current iteration's schedules."""
        images, labels = _unpack(data)
        terms = self.loss_terms(images, labels, iteration=self._iteration(), training=False)
        return self._record(terms)

    # ---- summary ---------------------------------------------------------------------------------------------
    def output_shapes(self) -> dict:
        """``{layer: [output shape, ...]}`` of the model's direct sub-layers, recorded during one eager forward
        pass (``loss_terms`` on :meth:`example_inputs`; the batch axis shown as None)."""
        cached = self.__dict__.get("_output_shapes")
        if cached is not None:
            return cached
        if not self.built:
            self.build_all()
        layers = list(self._flatten_layers(include_self=False, recursive=False))
        shapes = {}

        def recorder(layer, call):
            def wrapped(*args, **kwargs):
                out = call(*args, **kwargs)
                if layer not in shapes:
                    shapes[layer] = [(None,) + tuple(int(d) for d in t.shape[1:])
                                     for t in tf.nest.flatten(out) if hasattr(t, "shape") and len(t.shape)]
                return out
            return wrapped

        for layer in layers:
            object.__setattr__(layer, "call", recorder(layer, layer.call))
        try:
            images, labels = self.example_inputs(2)
            self.loss_terms(images, labels, iteration=tf.constant(1, tf.int64), training=False)
        finally:
            for layer in layers:
                layer.__dict__.pop("call", None)  # back to the class's call
        object.__setattr__(self, "_output_shapes", shapes)
        return shapes

    def summary(self, *args, **kwargs):
        """``keras.Model.summary`` with each block's output shape (from :meth:`output_shapes`)."""
        patched = []
        for layer, shapes in self.output_shapes().items():
            if not shapes:
                continue
            patched.append((layer, layer._build_shapes_dict))
            object.__setattr__(layer, "output_shape", shapes[0] if len(shapes) == 1 else tuple(shapes))
            if layer._build_shapes_dict is None:
                object.__setattr__(layer, "_build_shapes_dict", {"input_shape": None})
        try:
            return super().summary(*args, **kwargs)
        finally:
            for layer, build_shapes in patched:
                layer.__dict__.pop("output_shape", None)
                object.__setattr__(layer, "_build_shapes_dict", build_shapes)

    # ---- value ranges ---------------------------------------------------------------------------------------------
    def to_unit(self, images):
        """Images in the model's ``value_range`` -> [0, 1] float32, the same shape (the values the likelihoods
        are of)."""
        lo, hi = self.value_range
        return (tf.cast(images, tf.float32) - lo) / (hi - lo)

    def from_unit(self, x):
        """[0, 1] -> the model's ``value_range`` (float32)."""
        lo, hi = self.value_range
        return tf.cast(x, tf.float32) * (hi - lo) + lo

    # ---- input checks ------------------------------------------------------------------------------------------
    def check_inputs(self, images, labels=None, *, num_samples=None, where: str | None = None) -> None:
        """Check a batch against the model's config before it enters TensorFlow (run by every method of
        :data:`CHECKED_METHODS` and by :meth:`fit`; cheap: shapes and dtypes, and the value range only for values
        at hand, once per call on the host).

        Args:
            images: ``(B, H, W, C)`` floats in the model's ``value_range`` (``(0, 1)`` or ``(-1, 1)``), H, W, C
                the config's ``image_shape``.
            labels: ``(B,)`` integer classes in ``[0, num_classes)``; required by conditional models (CVAE),
                ignored by the others.
            num_samples: the number of importance samples K where the method takes one (an integer >= 1).
            where: the method's name, for the message.

        Raises:
            ValueError: one line saying what was given and what was expected (the shape, the dtype, the value
                range with a hint for 8-bit pixels, the labels, K).
        """
        where = where or type(self).__name__
        if num_samples is not None and not tf.is_tensor(num_samples):
            if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
                raise ValueError(f"{where}: num_samples must be an integer >= 1 (importance samples K), "
                                 f"got {num_samples!r}")
        if images is None:
            raise ValueError(f"{where}: no images given; expected (B, H, W, C) = (B, {self._image_shape_text()})")
        values = None if tf.is_tensor(images) or isinstance(images, np.ndarray) else _concrete_values(images)
        shape = tuple(values.shape if values is not None else images.shape)
        expected = self._expected_image_shape()
        if len(shape) != 4 or (expected is not None and any(
                e is not None and s is not None and int(s) != int(e) for s, e in zip(shape[1:], expected))):
            raise ValueError(f"{where}: images of shape {tuple(None if d is None else int(d) for d in shape)}, "
                             f"expected (B, {self._image_shape_text()}) (batch, height, width, channels)")
        dtype = tf.as_dtype(values.dtype if values is not None else images.dtype)
        lo, hi = (float(v) for v in self.value_range)
        if not dtype.is_floating:
            raise ValueError(f"{where}: images of dtype {dtype.name}; expected floats in [{lo:g}, {hi:g}]"
                             + (" (8-bit pixels: divide by 255)" if (lo, hi) == (0.0, 1.0) else
                                " (8-bit pixels: x / 127.5 - 1)" if (lo, hi) == (-1.0, 1.0) else ""))
        if values is None:
            values = _concrete_values(images)
        if values is not None and values.size:
            low, high = float(np.min(values)), float(np.max(values))
            slack = 1e-4 * (hi - lo)
            if not (np.isfinite(low) and np.isfinite(high)):
                raise ValueError(f"{where}: images hold NaN or infinite values")
            if low < lo - slack or high > hi + slack:
                hint = (" (8-bit pixels? divide by 255)" if high > 1.5 and hi == 1.0 and lo == 0.0 else
                        " (images in [0, 1]? map them as 2 x - 1)" if lo == -1.0 and low >= 0.0 and high > 1.0 else
                        " (images in [-1, 1]? map them as (x + 1) / 2)" if lo == 0.0 and low < 0.0 else "")
                raise ValueError(f"{where}: image values span [{low:g}, {high:g}], expected [{lo:g}, {hi:g}] "
                                 f"(the model's value_range){hint}")
        self._check_labels(labels, shape[0], where)

    def _check_labels(self, labels, batch, where: str) -> None:
        conditional = bool(getattr(self, "conditional", False))
        if not conditional:
            return
        classes = getattr(self, "num_classes", None)
        if labels is None:
            raise ValueError(f"{where}: {type(self).__name__} is conditional and needs labels: (B,) integers in "
                             f"[0, {classes})")
        values = _concrete_values(labels)
        shape = tuple(values.shape if values is not None else labels.shape)
        dtype = tf.as_dtype(values.dtype if values is not None else labels.dtype)
        if len(shape) != 1 or not dtype.is_integer or (batch is not None and shape[0] is not None
                                                       and int(shape[0]) != int(batch)):
            raise ValueError(f"{where}: labels of shape {shape} and dtype {dtype.name}; expected ({batch},) "
                             f"integers in [0, {classes}), one per image")
        if values is not None and values.size and classes and (values.min() < 0 or values.max() >= classes):
            raise ValueError(f"{where}: labels span {int(values.min())}..{int(values.max())}, expected "
                             f"0..{int(classes) - 1}")

    def _expected_image_shape(self):
        shape = getattr(getattr(self, "config", None), "image_shape", None)
        if shape is None:
            shape = getattr(self, "image_shape", None)
        return None if shape is None else tuple(None if d is None else int(d) for d in shape)

    def _image_shape_text(self) -> str:
        shape = self._expected_image_shape()
        return "H, W, C" if shape is None else ", ".join(str(d) for d in shape)

    def fit(self, x=None, *args, **kwargs):
        """``keras.Model.fit``, after :meth:`check_inputs` on ``x`` (an array, or the first batch of a
        ``tf.data.Dataset`` of ``images`` or ``(images, labels)``).

        Raises:
            ValueError: the first batch is not what the model takes (see :meth:`check_inputs`).
        """
        first = x
        if isinstance(x, tf.data.Dataset):
            first = next(iter(x.take(1)), None)
        if first is not None and not callable(first):
            images, labels = _unpack(first)
            if labels is None and len(args) >= 1 and not isinstance(x, tf.data.Dataset):
                labels = args[0]
            self.check_inputs(images, labels if labels is not None else kwargs.get("y"), where=f"{type(self).__name__}.fit")
        return super().fit(x, *args, **kwargs)

    # ---- the public API ----------------------------------------------------------------------------------------
    def count_parameters(self) -> int:
        """Trainable parameters."""
        return int(sum(int(np.prod(v.shape)) for v in self.trainable_variables))


def zeros_like_input(shape, value_range, n: int) -> tf.Tensor:
    """``(n,) + shape`` float32 at the bottom of ``value_range`` (a neutral example batch)."""
    return tf.fill((n,) + tuple(int(s) for s in shape), float(value_range[0]))

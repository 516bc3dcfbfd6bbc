"""What makes every model family a Keras model: ``fit`` / ``evaluate`` on the objective, serialisation,
``summary``, and the small public API shared by all families.

Every model class derives from :class:`HVAEModel` (``keras.Model`` plus :class:`models.latent.LatentVariableModel`)
and implements

    loss_terms(images, labels=None, iteration=None, training=True) -> dict of scalars with "loss"
    build_all() -> self                        create every weight (one forward pass on a small batch)
    example_inputs(n) -> (images, labels)      a batch of the model's input shape, for build_all and summary
    get_config() -> dict                        the constructor's arguments (JSON-able)

Then, as the Keras VAE example does it (a subclassed model with ``train_step`` and ``keras.metrics.Mean``
trackers), ``model.compile(optimizer=...)``, ``model.fit(dataset)`` and ``model.evaluate(dataset)`` work on any
``tf.data`` pipeline of ``images`` or ``(images, labels)`` batches (``datasets.load(...).batches(...)``); the
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

import keras
import numpy as np
import tensorflow as tf

from .latent import LatentVariableModel


def _unpack(data):
    """``images`` or ``(images, labels)`` (or Keras' ``(x, y, sample_weight)``) -> ``(images, labels or None)``."""
    if isinstance(data, (tuple, list)):
        images = data[0]
        labels = data[1] if len(data) > 1 else None
        return images, labels
    return data, None


class HVAEModel(LatentVariableModel, keras.Model):
    """Base of every model family (see the module docstring)."""

    # ---- what a family implements -------------------------------------------------------------------
    def loss_terms(self, images, labels=None, iteration=None, training=True) -> dict:
        raise NotImplementedError

    def build_all(self):
        """Create every weight (one forward pass on :meth:`example_inputs`). Returns self."""
        raise NotImplementedError

    def example_inputs(self, n: int = 2):
        """``(images (n, H, W, C) zeros in the model's value range, labels (n,) or None)``."""
        raise NotImplementedError

    # ---- Keras building and saving ----------------------------------------------------------------------
    def get_build_config(self):
        return {"built_by": "build_all"}

    def build_from_config(self, config):
        """Rebuild every weight on load (``keras.models.load_model``) before the weights are read."""
        self.build_all()

    @classmethod
    def from_config(cls, config):
        return cls(**config)

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

    # ---- the public API ----------------------------------------------------------------------------------------
    def count_parameters(self) -> int:
        """Trainable parameters."""
        return int(sum(int(np.prod(v.shape)) for v in self.trainable_variables))


def zeros_like_input(shape, value_range, n: int) -> tf.Tensor:
    """``(n,) + shape`` float32 at the bottom of ``value_range`` (a neutral example batch)."""
    return tf.fill((n,) + tuple(int(s) for s in shape), float(value_range[0]))

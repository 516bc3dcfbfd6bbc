"""Optimizers whose update runs as one fused kernel per variable.

Keras 3's ``Adam`` updates each variable with about a dozen separate element-wise operations (read the moments,
update them, read them again, divide, subtract). For a model of 26 M parameters that is hundreds of megabytes
of memory traffic per step on a CPU. :class:`FusedAdam` gives every variable to TensorFlow's fused, multi-threaded
``ResourceApplyAdam`` kernel instead (the one ``tf.keras`` 2 and TF1's ``AdamOptimizer`` used): the same
arithmetic (m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; w -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps)),
the same variables (a checkpoint of one restores into the other), one pass over memory. Whether it is faster is
measured by ``benchmarks/train_speed.py`` (docs/performance.md); the tasks use it where it is.
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="hvae")
class FusedAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` with TensorFlow's fused ``ResourceApplyAdam`` update (dense gradients, one
    replica; otherwise, and with ``amsgrad``, the Keras update). Arguments as ``keras.optimizers.Adam``."""

    def update_step(self, gradient, variable, learning_rate):
        strategy = tf.distribute.get_strategy()
        if self.amsgrad or isinstance(gradient, tf.IndexedSlices) or strategy.num_replicas_in_sync > 1:
            return super().update_step(gradient, variable, learning_rate)
        var = variable.value if isinstance(variable, keras.Variable) else variable
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        dtype = var.dtype
        t = tf.cast(self.iterations + 1, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=var.handle, m=m.value.handle, v=v.value.handle,
            beta1_power=tf.pow(tf.cast(self.beta_1, dtype), t), beta2_power=tf.pow(tf.cast(self.beta_2, dtype), t),
            lr=tf.cast(learning_rate, dtype), beta1=tf.cast(self.beta_1, dtype), beta2=tf.cast(self.beta_2, dtype),
            epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype), use_locking=False)

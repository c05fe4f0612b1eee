"""XOR with the classic 3-4-1 sigmoid network (inputs carry a constant 1 as a third column)."""

import numpy as np

from fastbp import Network, Trainer

X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float32)
y = np.array([[0], [1], [1], [0]], dtype=np.float32)

network = Network([3, 4, 1], activation="sigmoid", output_activation="sigmoid", seed=1)
trainer = Trainer(network, cost="quadratic", learning_rate=2.0, batch_size=4, seed=0)
history = trainer.fit(X, y, epochs=5000)

print(f"loss after 1 epoch {history['loss'][0]:.4f}, after 5000 {history['loss'][-1]:.6f}")
for inputs, output in zip(X, trainer.predict_proba(X)):
    print(f"{inputs[0]:.0f} xor {inputs[1]:.0f} -> {output[0]:.3f}")

"""The model: where it comes from, its presets and prompt table, the weight guard, the encoder and its cache."""

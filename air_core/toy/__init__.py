"""The toy world: a procedurally drawn source world, a shifted target dataset, and a toy CLIP and
toy Stable Diffusion pretrained on the source world by the workflow itself (docs/toy_world.md).

The toy models are saved in the real models' formats (open_clip model config + checkpoint,
diffusers ``save_pretrained`` directory) and loaded by the same loaders as the real ones.
"""

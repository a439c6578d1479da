"""Dataset formats: mask folders, palette/RGB masks, COCO JSON, instance-id maps, NumPy arrays."""

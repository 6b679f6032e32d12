"""Dataset sources, one module per on-disk format; ``gvcore.data`` holds the registry and the API.

Each source module offers a loader ``(spec, root, split, image_size) -> (images, labels)``: images
uint8 (N, C, H, W), labels int64 (N,). Loaders read the files themselves and check them, so a
damaged folder is a one-line ``GVError`` naming the file and the fix; torchvision is used only to
download (``fetch.ensure_local``).
"""

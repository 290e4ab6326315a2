#!/usr/bin/env python3
"""A labelled image folder with many tiny files, for timing the listing of
folder:DIR (load_image_folder) without the cost of decoding.

Every file is the same valid 8 x 8 binary PGM (75 bytes, grey), so the
16 images that the listing decodes to choose the default side decode fast;
what is timed is the directory walk.

    make_listing_folder.py OUT [--files 200000] [--classes 100]

writes OUT/class000/000000.pgm ... (files spread evenly over the classes).
"""
import argparse
import os


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--files", type=int, default=200000)
    ap.add_argument("--classes", type=int, default=100)
    a = ap.parse_args()
    pgm = b"P5\n8 8\n255\n" + bytes(range(0, 256, 4))
    for k in range(a.classes):
        os.makedirs(os.path.join(a.out, "class%03d" % k), exist_ok=True)
    for i in range(a.files):
        with open(os.path.join(a.out, "class%03d" % (i % a.classes), "%06d.pgm" % i), "wb") as f:
            f.write(pgm)


if __name__ == "__main__":
    main()

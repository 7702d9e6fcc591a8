"""Paper 002 Table II analogue; the same as ``mndt reproduce table2`` (code: ``mndt_envs.reproductions.table2``)."""

from mndt_envs.reproductions.table2 import main

if __name__ == "__main__":
    main()

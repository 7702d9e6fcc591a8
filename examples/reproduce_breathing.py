"""Paper 001 §7 (CPICH load balancing); the same as ``mndt reproduce breathing``.

The code is ``mndt_envs.reproductions.breathing``, shipped in the wheel.
"""

from mndt_envs.reproductions.breathing import main

if __name__ == "__main__":
    main()

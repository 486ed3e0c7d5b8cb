"""The ground floor: what every other package may import, and which imports none of them.

- ``errors.py``   the suite's error type for bad input (``UsageError``);
- ``patches.py``  the registry of every private Ray, Tune, RLlib, torch and imageio internal
                  the suite touches, with what each saves and its tripwire test;
- ``uris.py``     local paths against storage URIs; whether anything answers at a port;
- ``lazy.py``     a package's attributes loaded on first use;
- ``stats.py``    the IQM over seeds with its bootstrap CI (for analysis and benchmarks).
"""

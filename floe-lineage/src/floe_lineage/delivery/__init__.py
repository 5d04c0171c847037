"""Getting events out: ``openlineage.yml`` (``config``), the emitter that never fails or stalls a
run (``emitter``), the spool of undelivered events (``spool``) and the appending file transport,
which importing this package registers with openlineage-python's transport factory for
``type: file`` (``file_transport``), so it also serves ``file`` children of a ``composite``."""

from . import file_transport as _registers_the_file_transport  # noqa: F401

from tests.run_archive import fresh_archive, run_archive

__all__ = ["fresh_archive", "run_archive"]

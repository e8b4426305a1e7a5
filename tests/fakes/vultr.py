"""placeholder"""
from tests.fakes.vps_base import FakeVps
class FakeVultr(FakeVps):
    pass

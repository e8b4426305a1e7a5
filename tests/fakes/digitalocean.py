"""placeholder"""
from tests.fakes.vps_base import FakeVps
class FakeDigitalOcean(FakeVps):
    pass

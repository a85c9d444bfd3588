"""The Python SDK of a trex node: typed models, two clients and one exception hierarchy.

```python
from trex_client import TrexClient

with TrexClient("https://trex.example.edu", token="trex_…") as trex:
    for match in trex.screen("哈工大").matches:
        print(match.subject.name, match.score)
```
"""

from trex_client._batch import BatchInput, Progress, ReportFormat, Writable
from trex_client._client import AsyncTrexClient, TrexClient
from trex_client._core import DEFAULT_TIMEOUT, AdvisoryFilters
from trex_client._errors import (
    BadRequest,
    Conflict,
    FieldError,
    Forbidden,
    InvalidInput,
    InvalidResponse,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    TransportError,
    TrexAPIError,
    TrexError,
    Unauthorized,
    UnsupportedMediaType,
)
from trex_client._models import (
    Advisory,
    AdvisoryInput,
    AdvisoryPage,
    Answer,
    BatchReport,
    BatchResult,
    Finding,
    Listing,
    Me,
    NonPublicResources,
    Org,
    Organisation,
    Review,
    ReviewAdvisory,
    ReviewInput,
    ReviewMatch,
    ReviewOrganisation,
    ReviewSummary,
    ScreenAdvisory,
    ScreenMatch,
    ScreenResult,
    ScreenSubject,
    Source,
    Subject,
    SubjectName,
)
from trex_client._retry import Retry
from trex_client._version import __version__

__all__ = [
    "DEFAULT_TIMEOUT",
    "Advisory",
    "AdvisoryFilters",
    "AdvisoryInput",
    "AdvisoryPage",
    "Answer",
    "AsyncTrexClient",
    "BadRequest",
    "BatchInput",
    "BatchReport",
    "BatchResult",
    "Conflict",
    "FieldError",
    "Finding",
    "Forbidden",
    "InvalidInput",
    "InvalidResponse",
    "Listing",
    "Me",
    "NonPublicResources",
    "NotFound",
    "Org",
    "Organisation",
    "PayloadTooLarge",
    "Progress",
    "RateLimited",
    "ReportFormat",
    "Retry",
    "Review",
    "ReviewAdvisory",
    "ReviewInput",
    "ReviewMatch",
    "ReviewOrganisation",
    "ReviewSummary",
    "ScreenAdvisory",
    "ScreenMatch",
    "ScreenResult",
    "ScreenSubject",
    "ServerError",
    "Source",
    "Subject",
    "SubjectName",
    "TransportError",
    "TrexAPIError",
    "TrexClient",
    "TrexError",
    "Unauthorized",
    "UnsupportedMediaType",
    "Writable",
    "__version__",
]

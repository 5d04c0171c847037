-- quoted, spaced, mixed-case seed columns: renamed, kept, and computed from
select
    id as person_id,
    "First Name" as first_name,
    "E-mail Address" as "Contact Email",
    upper("First Name") as "Shout Name",
    "Signup Date"
from {{ ref('people') }}
where "E-mail Address" is not null

{{ config(enabled=target.type == 'duckdb') }}
-- an external source: a CSV file read in place
select order_id, sum("Paid Amount") as paid
from {{ source('files', 'payments') }}
group by order_id

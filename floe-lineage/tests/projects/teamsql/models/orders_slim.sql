{{ config(enabled=target.type == 'duckdb') }}
select * exclude (status) replace (amount * 100 as amount)
from {{ ref('orders') }}

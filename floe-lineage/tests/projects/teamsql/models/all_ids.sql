select id as any_id, 'person' as kind from {{ ref('people') }}
union all
select order_id, 'order' from {{ ref('orders') }}
